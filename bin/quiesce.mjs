#!/usr/bin/env node
// The `quiesce` CLI (TypeScript sources, run from a bundle that scripts/cli-bundle.mjs keeps fresh).
import { native } from '../server/repository/native.mjs';
import { loadCli } from '../scripts/cli-bundle.mjs';

// A command is a short process that starts several threads: they share one malloc arena, so the
// memory one frees (V8's compiler zones on its background threads) is reused by the next instead
// of faulted in fresh (an 8-disk incremental: 6 K fewer page faults).
native?.shareMallocArenas(1);
const { main } = await loadCli();
process.exitCode = await main(process.argv);
