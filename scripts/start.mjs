#!/usr/bin/env node
// `npm start`: builds the dashboard when its sources changed since the last build, then starts the
// Quiesce server (dashboard + API + engine + lab) in this process. `--dev` runs Next.js in dev mode.
import { register } from 'tsx/esm/api';
import { buildIfNeeded } from './build-if-needed.mjs';

const dev = process.argv.includes('--dev');
process.env.NEXT_TELEMETRY_DISABLED = '1';
if (dev) process.env.NODE_ENV = 'development';
else buildIfNeeded();
register();
const { runServerProcess } = await import('../server/main.ts');
runServerProcess();
