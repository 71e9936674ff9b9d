#!/usr/bin/env node
// The `quiesce` CLI. The code is TypeScript; tsx compiles it on the fly (cached).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../server/cli/main.ts');
process.exitCode = await main(process.argv);
