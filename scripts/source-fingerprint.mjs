// A fingerprint of source files (paths, sizes and mtimes): what the dashboard build and the CLI
// bundle compare to know whether they are out of date.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

function walk(dir, include, out) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, include, out);
    else if (include.test(e.name)) out.push(p);
  }
}

/** Hash of every file under `dirs` whose name matches `include`, and of `files` (relative to `root`; missing ones are skipped). */
export function sourceFingerprint({ root, dirs, files = [], include }) {
  const all = [];
  for (const d of dirs) walk(path.join(root, d), include, all);
  for (const f of files) all.push(path.join(root, f));
  const h = createHash('sha256');
  for (const f of all.sort()) {
    try {
      const s = fs.statSync(f);
      h.update(`${path.relative(root, f)}:${s.size}:${s.mtimeMs}\n`);
    } catch {
      /* optional file */
    }
  }
  return h.digest('hex');
}
