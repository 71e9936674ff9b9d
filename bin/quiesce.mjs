#!/usr/bin/env node
// The `quiesce` CLI (TypeScript sources, run from a bundle that scripts/cli-bundle.mjs keeps fresh).
import v8 from 'node:v8';
import { native } from '../server/repository/native.mjs';
import { loadCli } from '../scripts/cli-bundle.mjs';

// A command is a short process whose heavy work is in the addon: V8 would spend more CPU compiling
// its JavaScript with the optimising compiler (on other threads, beside the engine's, on a 2-core
// machine: ~0.18 CPU-s for an 8-disk incremental) than that code saves. Functions are optimised
// only after 16 times V8's usual amount of work, so only what runs long is (a restore's or a
// verify's loops). 8-disk changed-extents incremental, median of 11 interleaved runs: 0.39 → 0.37 s,
// CPU 0.62 → 0.56 s; re-read incremental and verify unchanged.
v8.setFlagsFromString('--interrupt-budget=1081344');

// A command is a short process that starts several threads: they share one malloc arena, so the
// memory one frees (V8's compiler zones on its background threads) is reused by the next instead
// of faulted in fresh (an 8-disk incremental: 6 K fewer page faults).
native?.shareMallocArenas(1);
const { main } = await loadCli();
process.exitCode = await main(process.argv);
