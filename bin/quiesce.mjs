#!/usr/bin/env node
// The `quiesce` CLI (TypeScript sources, run from a bundle that scripts/cli-bundle.mjs keeps fresh).
import { loadCli } from '../scripts/cli-bundle.mjs';

const { main } = await loadCli();
process.exitCode = await main(process.argv);
