// Builds the Next.js dashboard when the sources changed since the last build (fingerprint of
// paths, sizes and mtimes of everything the build reads). Used by `npm start` and the e2e runner.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { sourceFingerprint } from './source-fingerprint.mjs';

export const root = path.resolve(import.meta.dirname, '..');

const sourceFingerprintOfDashboard = () =>
  sourceFingerprint({
    root,
    dirs: ['app', 'components', 'server', 'db/schema'],
    files: ['next.config.js', 'postcss.config.mjs', 'package-lock.json', 'tsconfig.json', 'env.ts'],
    include: /\.(tsx?|css|mjs|js|json)$/,
  });

export function buildIfNeeded() {
  const stamp = path.join(root, '.next', 'quiesce-build-fingerprint');
  const fp = sourceFingerprintOfDashboard();
  const built = fs.existsSync(path.join(root, '.next', 'BUILD_ID')) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === fp;
  if (built) return;
  process.stderr.write('quiesce: building the dashboard (first start or sources changed)…\n');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'next', 'dist', 'bin', 'next'), 'build'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production' },
  });
  if (r.status !== 0) {
    process.stderr.write('quiesce: the dashboard build failed\n');
    process.exit(r.status ?? 1);
  }
  // The build may touch files it reads (Next rewrites tsconfig.json): stamp what it leaves.
  fs.writeFileSync(stamp, sourceFingerprintOfDashboard());
}
