#!/usr/bin/env node
// `npm run test:e2e`: builds the dashboard if needed, starts the real Quiesce server (embedded
// Postgres, live lab, filesystem storage unit) on a fresh data directory and a free port, runs the
// Playwright specs in Debian Chromium against it, then stops it and removes the data directory.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildIfNeeded, root } from './build-if-needed.mjs';

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

buildIfNeeded();
const port = await freePort();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-e2e-'));
const base = `http://127.0.0.1:${port}`;
const admin = { email: 'admin@e2e.quiesce.local', password: 'e2e-admin-password' };
const env = {
  ...process.env,
  PORT: String(port),
  HOST: '127.0.0.1',
  QUIESCE_DATA_DIR: dataDir,
  QUIESCE_PUBLIC_URL: base,
  QUIESCE_URL: base,
  QUIESCE_ADMIN_EMAIL: admin.email,
  QUIESCE_ADMIN_PASSWORD: admin.password,
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  NEXT_TELEMETRY_DISABLED: '1',
};
delete env.DATABASE_URL;
const logFile = path.join(root, 'test-results', 'e2e-server.log');
fs.mkdirSync(path.dirname(logFile), { recursive: true });
const log = fs.openSync(logFile, 'w');
const server = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'server', 'main.ts')], { cwd: root, env, stdio: ['ignore', log, log] });
let exited = false;
server.on('exit', () => {
  exited = true;
});

async function waitHealthy() {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`the server exited during start; see ${logFile}`);
    try {
      const r = await fetch(`${base}/api/health`);
      if (r.status === 200) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the server did not become healthy in 180 s; see ${logFile}`);
}

let code = 1;
try {
  await waitHealthy();
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', '@playwright', 'test', 'cli.js'), 'test', ...process.argv.slice(2)], {
    cwd: root,
    stdio: 'inherit',
    env: { ...env, E2E_BASE_URL: base, E2E_ADMIN_EMAIL: admin.email, E2E_ADMIN_PASSWORD: admin.password, E2E_DATA_DIR: dataDir },
  });
  code = r.status ?? 1;
} catch (e) {
  console.error(`e2e: ${e.message}`);
  code = 1;
} finally {
  if (!exited) {
    server.kill('SIGTERM');
    await new Promise((r) => {
      const t = setTimeout(() => {
        server.kill('SIGKILL');
        r();
      }, 20_000);
      server.on('exit', () => {
        clearTimeout(t);
        r();
      });
    });
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
}
process.exit(code);
