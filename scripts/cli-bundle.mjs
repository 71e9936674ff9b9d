// Loads the `quiesce` CLI. Its code is TypeScript: the first run after a change bundles it with
// esbuild into node_modules/.cache/quiesce-cli (a fraction of a second), later runs import that bundle and skip the
// TypeScript loader, so a repository command starts in about a tenth of a second instead of half
// a second. A stale bundle is never used (fingerprint of the sources); when bundling is not
// possible the CLI runs through tsx as before.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { sourceFingerprint } from './source-fingerprint.mjs';

const root = path.resolve(import.meta.dirname, '..');
const outDir = path.join(root, 'node_modules', '.cache', 'quiesce-cli');
const stampFile = path.join(outDir, 'fingerprint');

const fingerprint = () =>
  sourceFingerprint({
    root,
    dirs: ['server', 'db'],
    files: ['env.ts', 'package-lock.json', 'scripts/cli-bundle.mjs'],
    include: /^(?!.*\.test\.ts$).*\.(ts|mjs|json|sql)$/,
  });

/** Each module keeps its own location: import.meta.* are replaced by the source file's values. */
const keepLocations = {
  name: 'keep-import-meta',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      const src = await fs.promises.readFile(args.path, 'utf8');
      const contents = src
        .replaceAll('import.meta.dirname', JSON.stringify(path.dirname(args.path)))
        .replaceAll('import.meta.filename', JSON.stringify(args.path))
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href));
      return { contents, loader: 'ts' };
    });
    // Plain-JavaScript modules (the repository's worker, chunker) load from where they are.
    build.onResolve({ filter: /\.mjs$/ }, (args) => ({ path: path.resolve(args.resolveDir, args.path), external: true }));
  },
};

async function bundle(fp) {
  const esbuild = await import('esbuild');
  const tmp = `${outDir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: [path.join(root, 'server', 'cli', 'main.ts')],
    outdir: tmp,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    alias: { '@': root },
    plugins: [keepLocations],
    logLevel: 'silent',
    outExtension: { '.js': '.mjs' },
  });
  fs.writeFileSync(path.join(tmp, 'fingerprint'), fp);
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(outDir), { recursive: true });
  try {
    fs.renameSync(tmp, outDir);
  } catch {
    // Another CLI process put its bundle in place first: use that one.
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export async function loadCli() {
  if (process.env.QUIESCE_CLI_BUNDLE !== 'off') {
    try {
      const fp = fingerprint();
      const fresh = fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === fp;
      if (!fresh) await bundle(fp);
      if (fs.readFileSync(stampFile, 'utf8') === fp) return await import(pathToFileURL(path.join(outDir, 'main.mjs')).href);
    } catch {
      /* bundling failed: run the sources through tsx */
    }
  }
  const { register } = await import('tsx/esm/api');
  register();
  return import('../server/cli/main.ts');
}
