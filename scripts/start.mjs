#!/usr/bin/env node
// `npm start`: builds the dashboard when its sources changed since the last build, then starts the
// Quiesce server (dashboard + API + engine + lab) in this process. `--dev` runs Next.js in dev mode.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { register } from 'tsx/esm/api';

const root = path.resolve(import.meta.dirname, '..');
const dev = process.argv.includes('--dev');

function walk(dir, out) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (/\.(tsx?|css|mjs|js|json)$/.test(e.name)) out.push(p);
  }
}

/** Fingerprint of everything the Next.js build reads. */
function sourceFingerprint() {
  const files = [];
  for (const d of ['app', 'components', 'server', 'db/schema']) walk(path.join(root, d), files);
  for (const f of ['next.config.js', 'postcss.config.mjs', 'package-lock.json', 'tsconfig.json', 'env.ts']) files.push(path.join(root, f));
  const h = createHash('sha256');
  for (const f of files.sort()) {
    try {
      const s = fs.statSync(f);
      h.update(`${path.relative(root, f)}:${s.size}:${s.mtimeMs}\n`);
    } catch {
      /* missing optional file */
    }
  }
  return h.digest('hex');
}

if (!dev) {
  const stamp = path.join(root, '.next', 'quiesce-build-fingerprint');
  const fp = sourceFingerprint();
  const built = fs.existsSync(path.join(root, '.next', 'BUILD_ID')) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === fp;
  if (!built) {
    process.stderr.write('quiesce: building the dashboard (first start or sources changed)…\n');
    const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'next', 'dist', 'bin', 'next'), 'build'], { cwd: root, stdio: 'inherit', env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' } });
    if (r.status !== 0) {
      process.stderr.write('quiesce: the dashboard build failed\n');
      process.exit(r.status ?? 1);
    }
    fs.writeFileSync(stamp, fp);
  }
} else {
  process.env.NODE_ENV = 'development';
}
process.env.NEXT_TELEMETRY_DISABLED = '1';
register();
const { runServerProcess } = await import('../server/main.ts');
runServerProcess();
