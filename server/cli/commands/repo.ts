import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { initRepository, openFileSource, openRepository, type FilesystemRepository } from '@/server/repository';
import { DEFAULT_ZSTD_LEVEL, MAX_ZSTD_LEVEL, MIN_ZSTD_LEVEL } from '@/server/repository/format';
import type { Extent, PointSummary } from '@/server/repository/types';
import { EXIT_FAILURE, printJson, UsageError } from '../output';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

interface RepoOpts {
  repo: string;
  keyFile?: string;
  json?: boolean;
}

async function withRepo<T>(opts: RepoOpts, fn: (r: FilesystemRepository) => Promise<T>): Promise<T> {
  const repo = await openRepository({ path: opts.repo, keyFile: opts.keyFile ?? null });
  try {
    return await fn(repo);
  } finally {
    await repo.close();
  }
}

/** `NAME=FILE` or `NAME=FILE@EXTENTS.json`. */
export function parseImageArg(arg: string): { name: string; file: string; extentsFile: string | null } {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new UsageError(`"${arg}" is not NAME=FILE`);
  const name = arg.slice(0, eq);
  if (!NAME.test(name)) throw new UsageError(`image name "${name}" may use letters, digits, ".", "_" and "-" only`);
  const rest = arg.slice(eq + 1);
  const at = rest.lastIndexOf('@');
  const file = at > 0 ? rest.slice(0, at) : rest;
  if (!file) throw new UsageError(`"${arg}" names no file`);
  return { name, file, extentsFile: at > 0 ? rest.slice(at + 1) : null };
}

export function readExtents(file: string): Extent[] {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: not a JSON array of [offset, length] (${(e as Error).message})`);
  }
  if (!Array.isArray(raw) || !raw.every((x) => Array.isArray(x) && x.length === 2 && x.every((n) => Number.isSafeInteger(n) && n >= 0))) {
    throw new UsageError(`${file}: not a JSON array of [offset, length] pairs of non-negative integers`);
  }
  return (raw as Extent[]).filter(([, l]) => l > 0);
}

/** `NAME[:POINT]=OUTFILE`. */
export function parseRestoreArg(arg: string): { name: string; point: string | null; out: string } {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new UsageError(`"${arg}" is not NAME[:POINT]=OUTFILE`);
  const left = arg.slice(0, eq);
  const colon = left.indexOf(':');
  const name = colon > 0 ? left.slice(0, colon) : left;
  if (!NAME.test(name)) throw new UsageError(`image name "${name}" is not valid`);
  const out = arg.slice(eq + 1);
  if (!out) throw new UsageError(`"${arg}" names no output file`);
  return { name, point: colon > 0 ? left.slice(colon + 1) : null, out };
}

function human(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i ? 1 : 0)} ${u[i]}`;
}

export function register(program: Command): void {
  const repo = program.command('repo').description('Repositories on storage units (works without a server)');
  repo
    .command('init')
    .description('Create a repository in an empty or new directory')
    .requiredOption('--path <dir>', 'directory')
    .option('--encrypt', 'encrypt chunks with AES-256-GCM')
    .option('--key-file <file>', 'key file (created with a new key when absent)')
    .option('--compression <codec>', `how new chunks are compressed: lz4 (default: fastest backups and restores) or zstd (a smaller repository)`)
    .option('--compression-level <n>', `zstd's level, ${MIN_ZSTD_LEVEL} to ${MAX_ZSTD_LEVEL} (alone it means zstd; default ${DEFAULT_ZSTD_LEVEL})`)
    .option('--json', 'print one JSON object')
    .action(async (opts: { path: string; encrypt?: boolean; keyFile?: string; compression?: string; compressionLevel?: string; json?: boolean }) => {
      if (opts.compressionLevel !== undefined && !/^-?\d+$/.test(opts.compressionLevel.trim())) throw new UsageError(`--compression-level must be a whole number (got "${opts.compressionLevel}")`);
      const c = await initRepository({
        path: opts.path,
        encrypt: !!opts.encrypt,
        ...(opts.compression !== undefined ? { compression: opts.compression } : {}),
        ...(opts.compressionLevel !== undefined ? { compressionLevel: Number(opts.compressionLevel) } : {}),
        ...(opts.keyFile ? { keyFile: opts.keyFile } : {}),
      });
      // compressionLevel: zstd's level; LZ4 has none.
      const out = { path: path.resolve(opts.path), encrypted: !!opts.encrypt, compression: c.codec, compressionLevel: c.codec === 'zstd' ? c.level : null };
      if (opts.json) printJson(out);
      else process.stdout.write(`created repository ${out.path}${out.encrypted ? ' (encrypted)' : ''}\n`);
    });
  repo
    .command('stats')
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--key-file <file>', 'key file of an encrypted repository')
    .option('--json', 'print one JSON object')
    .action(async (opts: RepoOpts) => {
      const s = await withRepo(opts, (r) => r.stats());
      if (opts.json) printJson(s);
      else process.stdout.write(`${s.points} restore points, ${human(s.logicalBytes)} logical, ${human(s.storedBytes)} stored, ${s.chunks} chunks, dedup ratio ${s.dedupRatio.toFixed(2)}\n`);
    });
  repo
    .command('verify')
    .description('Re-read and re-hash every chunk; name damaged chunks and the restore points they break')
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--point <id>', 'only the chunks of this restore point')
    .option('--key-file <file>', 'key file of an encrypted repository')
    .option('--json', 'print one JSON object')
    .action(async (opts: RepoOpts & { point?: string }) => {
      const rep = await withRepo(opts, (r) => r.verify(opts.point ? { pointId: opts.point } : {}));
      if (opts.json) printJson(rep);
      else if (rep.ok) process.stdout.write(`ok: ${rep.chunksChecked} chunks, ${human(rep.bytesChecked)} checked in ${rep.seconds.toFixed(1)} s\n`);
      else {
        for (const d of rep.damagedChunks) process.stdout.write(`damaged chunk ${d.id}: ${d.problem}; breaks ${d.points.join(', ') || 'no restore point'}\n`);
        process.stdout.write(`broken restore points: ${rep.brokenPoints.join(', ') || 'none'}\n`);
      }
      if (!rep.ok) process.exitCode = EXIT_FAILURE;
    });
  repo
    .command('prune')
    .description('Keep the newest N restore points of each series; the rest are forgotten (run gc to free space)')
    .requiredOption('--repo <dir>', 'repository directory')
    .requiredOption('--keep-last <n>', 'restore points to keep per series')
    .option('--series <name>', 'only this series')
    .option('--key-file <file>', 'key file of an encrypted repository')
    .option('--json', 'print one JSON object')
    .action(async (opts: RepoOpts & { keepLast: string; series?: string }) => {
      const keepLast = Number(opts.keepLast);
      if (!Number.isInteger(keepLast) || keepLast < 1) throw new UsageError('--keep-last takes a whole number of at least 1');
      const r = await withRepo(opts, (x) => x.prune({ keepLast, ...(opts.series ? { series: opts.series } : {}) }));
      if (opts.json) printJson(r);
      else process.stdout.write(`removed ${r.removed.length} restore points, kept ${r.kept}\n`);
    });
  repo
    .command('gc')
    .description('Remove chunks no restore point refers to (waits for running backups)')
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--key-file <file>', 'key file of an encrypted repository')
    .option('--json', 'print one JSON object')
    .action(async (opts: RepoOpts) => {
      const r = await withRepo(opts, (x) => x.gc());
      if (opts.json) printJson(r);
      else process.stdout.write(`removed ${r.packsRemoved} packs, rewrote ${r.packsRewritten}, freed ${human(r.bytesFreed)}\n`);
    });

  const image = program.command('image').description('Back up and restore disk image files (works without a server)');
  image
    .command('backup')
    .description('Back up images: NAME=FILE, or NAME=FILE@EXTENTS.json to read only the changed extents')
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--key-file <file>', 'key file of an encrypted repository')
    .option('--json', 'print one JSON object')
    .argument('<images...>', 'NAME=FILE[@EXTENTS.json]')
    .action(async (args: string[], opts: RepoOpts) => {
      const specs = args.map(parseImageArg);
      const names = new Set<string>();
      for (const s of specs) {
        if (names.has(s.name)) throw new UsageError(`image ${s.name} is named twice`);
        names.add(s.name);
      }
      const extents = new Map(specs.filter((s) => s.extentsFile).map((s) => [s.name, readExtents(s.extentsFile!)]));
      const started = Date.now();
      const images = await withRepo(opts, async (r) => {
        const sources = await Promise.all(specs.map((s) => openFileSource(s.file)));
        try {
          // NAME's latest point: the unchanged regions of an extents backup come from it, and a plain
          // re-read is compared with it (unchanged chunks are recognised by hash, not re-chunked).
          const latest = await r.latestPoints();
          const parents = specs.map((s) => latest.get(s.name) ?? null);
          specs.forEach((s, i) => {
            if (extents.has(s.name) && !parents[i]) throw new UsageError(`${s.name} has no restore point yet: back it up in full first (without @extents)`);
          });
          return await Promise.all(
            specs.map(async (s, i) => {
              const res = await r.backup({
                series: s.name,
                parentPointId: parents[i]?.id ?? null,
                disks: [{ index: 0, label: path.basename(s.file), source: sources[i]!, ...(extents.has(s.name) ? { changedExtents: extents.get(s.name)! } : {}) }],
                meta: { kind: 'image', file: path.resolve(s.file) },
              });
              return { name: s.name, point: res.pointId, logicalBytes: res.logicalBytes, bytesRead: res.bytesRead, storedBytesAdded: res.storedBytesAdded };
            }),
          );
        } finally {
          await Promise.all(sources.map((s) => s.close()));
        }
      });
      const out = { images, seconds: (Date.now() - started) / 1000 };
      if (opts.json) printJson(out);
      else for (const i of images) process.stdout.write(`${i.name}: point ${i.point}, read ${human(i.bytesRead)}, stored ${human(i.storedBytesAdded)}\n`);
    });
  image
    .command('restore')
    .description('Restore images (sparse): NAME[:POINT]=OUTFILE, the latest point by default')
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--key-file <file>', 'key file of an encrypted repository')
    .option('--json', 'print one JSON object')
    .argument('<images...>', 'NAME[:POINT]=OUTFILE')
    .action(async (args: string[], opts: RepoOpts) => {
      const specs = args.map(parseRestoreArg);
      for (const s of specs) {
        if (fs.existsSync(s.out)) throw new UsageError(`${s.out} exists; restores never overwrite files`);
        if (!fs.existsSync(path.dirname(path.resolve(s.out)))) throw new UsageError(`directory ${path.dirname(path.resolve(s.out))} does not exist`);
      }
      const started = Date.now();
      const images = await withRepo(opts, async (r) => {
        // Only images restored from their latest point need the listing.
        const latest = specs.some((s) => !s.point) ? await r.latestPoints() : new Map<string, PointSummary>();
        const points = await Promise.all(
          specs.map(async (s) => {
            const p = s.point ? await r.getPoint(s.point) : (latest.get(s.name) ?? null);
            if (!p) throw new UsageError(`no restore point of ${s.name}`);
            if (p.series !== s.name) throw new UsageError(`restore point ${p.id} belongs to ${p.series}, not ${s.name}`);
            return p;
          }),
        );
        return Promise.all(
          specs.map(async (s, i) => {
            try {
              const res = await r.restoreDisk({ pointId: points[i]!.id, diskIndex: points[i]!.disks[0]!.index, outPath: s.out, digest: false });
              return { name: s.name, point: points[i]!.id, out: path.resolve(s.out), sizeBytes: res.sizeBytes, bytesWritten: res.bytesWritten };
            } catch (e) {
              fs.rmSync(s.out, { force: true });
              throw e;
            }
          }),
        );
      });
      const out = { images, seconds: (Date.now() - started) / 1000 };
      if (opts.json) printJson(out);
      else for (const i of images) process.stdout.write(`${i.name}: restored ${i.point} to ${i.out} (${human(i.sizeBytes)}, every chunk checked)\n`);
    });
}
