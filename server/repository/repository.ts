import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Extent } from '@/server/connectors/types';
import { ImageDigest } from '@/server/lib/image-digest';
import {
  DEFAULT_COMPRESSION,
  DEFAULT_ZSTD_LEVEL,
  FORMAT_VERSION,
  MAX_ZSTD_LEVEL,
  MIN_ZSTD_LEVEL,
  IDX_ENTRY_BYTES,
  ID_BYTES,
  RECORD_HEADER_BYTES,
  RepositoryError,
  assertPointId,
  decodePoint,
  decodePointHeader,
  encodePoint,
  idKey,
  idxEntryCount,
  isZstdLevel,
  newPointId,
  sealCodecOf,
  type Compression,
  type PointHeader,
  type PointManifest,
  type RepoConfig,
} from './format';
import { readExactly, readFileShared, writeFileAtomic } from './files';
import { checkKey, deriveKeys, loadKeyFile, type RepoKeys } from './keys';
import { acquireLock } from './locks';
import { DIRECT_ALIGN, takeOnHugePages } from './direct-io';
import { alignedOffset, openImageWriter } from './image-writer';
import { PackStore, decodeIdx, type SealedChunk } from './pack-store';
import { NO_PACK } from './chunk-index';
import type {
  BackupDiskInput,
  BackupDiskResult,
  BackupInput,
  BackupResult,
  PointSummary,
  RepoStats,
  Repository,
  RestoreDiskResult,
  VerifyReport,
} from './types';
import { ByteBudget } from './byte-budget';
import { DiskTableBuilder, ENTRY_BYTES, type DiskTable, type TableOut } from './disk-table';
import { ParentCuts } from './parent-cuts';
import { WorkerPool, defaultLanes } from './worker-pool';
import { BlobSlabs, BufferPool, SLAB_BYTES } from './buffers';
import { createChunkEngine, type BatchBytes, type ChunkEngine, type NamePart, type SegmentHandle } from './chunk-engine';
import { MASK_BITS, MAX_CHUNK, MIN_CHUNK, SEGMENT, maskOf } from './chunker.mjs';

/** Re-chunking reads this far past a changed extent, hoping to fall back on old cuts… */
const RESYNC_LOOKAHEAD = 32 * 1024;
/** …and on by this much at a time until it does (from its last cut: nothing is read twice). */
const RESYNC_STEP = 64 * 1024;
/** Changed extents closer than this share one window (windows that keep the parent's cuts only when they touch). */
const MERGE_GAP = 64 * 1024;
/**
 * A changed extent this long or longer is re-chunked content-defined: a region rewritten at
 * length (a file written, copied, moved or edited in place) may hold data the repository has at
 * other offsets. A shorter one is an in-place write of a few blocks: nothing moved, so it keeps the
 * parent's cuts and its chunks are only re-read and re-hashed (no cutting, no resync past its end;
 * on the benchmark's day of guest writes, 0.7 s instead of 1.2 s of work, and fewer bytes stored).
 */
const CDC_EXTENT_MIN = 1 << 20;
/**
 * Incremental windows go to the engine in batches of up to this many bytes and windows (one read
 * buffer or mapping, one call). Each batch costs the main thread two turns (name, then seal) and
 * the engine a mapping: on the benchmark's 8-disk day of guest writes, 8 MiB and 256 windows
 * against 2 MiB and 64 took the engine threads from about half busy to mostly busy (median of 11
 * interleaved runs: 0.43 → 0.36 s, CPU 0.65 → 0.56 s); 16 MiB leaves too few batches per disk to
 * keep both threads going (0.42 s).
 */
const WINDOW_BATCH_BYTES = 8 << 20;
const WINDOW_BATCH_MAX = 256;
/**
 * Chunk bytes per restore batch, with up to a block of padding per run of chunks: a batch, its runs
 * aligned for in-place writes, needs at most 4 MiB (a pooled 8 MiB buffer with the huge page
 * takeOnHugePages adds; 4 MiB without the addon).
 */
const RESTORE_BATCH_BYTES = (4 << 20) - MAX_CHUNK - DIRECT_ALIGN;

/** Reads of at least this many bytes in all, within the file, are mapped by the engine rather than copied. */
const MAP_MIN = 1 << 20;

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new RepositoryError('CONFLICT', 'backup aborted');
}

function summaryOf(h: PointHeader): PointSummary {
  return {
    id: h.id,
    series: h.series,
    createdAt: h.createdAt,
    parentPointId: h.parentPointId,
    logicalBytes: h.disks.reduce((a, d) => a + d.sizeBytes, 0),
    disks: h.disks.map((d) => ({ index: d.index, label: d.label, sizeBytes: d.sizeBytes })),
    meta: h.meta,
  };
}

interface BackupRun {
  /** This backup's place in the byte budget's queue. */
  rank: number;
  totals: { bytesTotal: number; bytesDone: number; bytesRead: number; storedBytesAdded: number };
  input: BackupInput;
  /**
   * Chunks whose durability the commit must confirm: this backup's new ones, and those another
   * writer still had pending when this backup counted on them.
   */
  unconfirmed: Array<{ ids: Uint8Array; picks: Uint32Array }>;
  /**
   * The chunk index, loaded and refreshed after this backup took its lock. Only storing chunks
   * needs it: windows are read and hashed while it loads.
   */
  indexed: Promise<void>;
  /** Set when a part of this backup failed: batches not yet read are not started (see `settleRun`). */
  failed: boolean;
}

/**
 * The `settle` of a backup's pipelines: once one batch has failed, the others not yet read are not
 * started, and those in flight are waited for, so that nothing of a failed backup runs after it
 * returns (its lock is released then).
 */
const settleRun = (run: BackupRun) => () => {
  run.failed = true;
};

/**
 * Chunks a worker named, entries `from` to `to` of its reply, as columns: `ids` holds 32 bytes per
 * chunk (unset for zeros). No object per chunk: a day's incremental names tens of thousands.
 */
interface Named {
  lengths: ArrayLike<number>;
  ids: Buffer;
  zero: Uint8Array;
  from: number;
  to: number;
}

/** Chunk k's id (a view of `ids`). */
function namedId(c: Named, k: number): Buffer {
  return c.ids.subarray(k * 32, k * 32 + 32);
}

function namedBytes(c: Named): number {
  let t = 0;
  for (let k = c.from; k < c.to; k++) t += c.lengths[k]!;
  return t;
}

function appendNamed(b: DiskTableBuilder, c: Named): void {
  for (let k = c.from; k < c.to; k++) {
    if (c.zero[k]) b.zeros(c.lengths[k]!);
    else b.chunk(c.lengths[k]!, c.ids, k * 32);
  }
}

/** An incremental window: [start, end) is read; chunks are re-cut past `resyncAfter` until they meet the parent's. */
type ChangedWindow = { start: number; resyncAfter: number; end: number; segEnd: number; keepCuts: boolean };

/**
 * The windows an incremental reads for `extents` over a parent cut at `cuts`: within one segment
 * each, merged when close. A long extent (CDC_EXTENT_MIN) is read from the parent's boundary
 * before it to its end plus a lookahead, and re-chunked; a short one keeps the parent's cuts, from
 * the boundary before it to the boundary after it.
 */
function planWindows(changed: Extent[], cuts: ParentCuts, size: number): ChangedWindow[] {
  const wins: ChangedWindow[] = [];
  const extents = changed.filter(([, l]) => l > 0).sort((a, b) => a[0] - b[0]);
  for (const [off, len] of extents) {
    const keepCuts = len < CDC_EXTENT_MIN;
    for (let a = off; a < off + len; ) {
      const segEnd = Math.min(size, (Math.floor(a / SEGMENT) + 1) * SEGMENT);
      const b = Math.min(off + len, segEnd);
      const start = Math.max(cuts.atOrBefore(a), segEnd - SEGMENT);
      const end = Math.min(segEnd, keepCuts ? cuts.atOrAfter(b) : b + RESYNC_LOOKAHEAD);
      const w: ChangedWindow = { start, resyncAfter: b, end, segEnd, keepCuts };
      const last = wins[wins.length - 1];
      if (last && last.segEnd === w.segEnd && (last.keepCuts && w.keepCuts ? w.start <= last.end : w.start <= last.end + MERGE_GAP)) {
        // Re-chunked if either is: then the window looks ahead past its last extent.
        last.resyncAfter = Math.max(last.resyncAfter, w.resyncAfter);
        last.keepCuts &&= w.keepCuts;
        last.end = Math.max(last.end, w.end, last.keepCuts ? 0 : Math.min(segEnd, last.resyncAfter + RESYNC_LOOKAHEAD));
      } else wins.push(w);
      a = b;
    }
  }
  return wins;
}

/** Windows are small: up to WINDOW_BATCH_MAX of them (or WINDOW_BATCH_BYTES) go to the engine as one buffer and one call. */
function batchWindows(wins: ChangedWindow[]): number[][] {
  const batches: number[][] = [];
  for (let i = 0, bytes = 0; i < wins.length; i++) {
    const n = wins[i]!.end - wins[i]!.start;
    const cur = batches[batches.length - 1];
    if (cur && cur.length < WINDOW_BATCH_MAX && bytes + n <= WINDOW_BATCH_BYTES) {
      cur.push(i);
      bytes += n;
    } else {
      batches.push([i]);
      bytes = n;
    }
  }
  return batches;
}

/**
 * A manifest's entries as chunks with offsets, column by column (a disk has tens of thousands):
 * zero runs are split where chunking cut them (the MAX_CHUNK grid). `ref[k]` is the table's entry
 * for a data chunk, -1 for a piece of a zero run.
 */
interface ChunkTable {
  n: number;
  start: Float64Array;
  length: Float64Array;
  ref: Int32Array;
  table: DiskTable;
}

/**
 * Where the zero piece starting at `cursor` of a run ending at `end` ends (module level, not a
 * closure per call: a new closure each call deoptimised expandChunks, 'wrong call target').
 */
function pieceEnd(cursor: number, end: number, size: number): number {
  return Math.min(end, size, (Math.floor(cursor / MAX_CHUNK) + 1) * MAX_CHUNK);
}

function expandChunks(t: DiskTable, size: number): ChunkTable {
  let n = 0;
  let pos = 0;
  for (let j = 0; j < t.n; j++) {
    const len = t.length(j);
    if (t.hasId(j)) n++;
    else for (let cursor = pos, end = pos + len; cursor < end; n++) cursor = pieceEnd(cursor, end, size);
    pos += len;
  }
  const c: ChunkTable = { n, start: new Float64Array(n), length: new Float64Array(n), ref: new Int32Array(n), table: t };
  let k = 0;
  pos = 0;
  for (let j = 0; j < t.n; j++) {
    const len = t.length(j);
    if (t.hasId(j)) {
      c.start[k] = pos;
      c.length[k] = len;
      c.ref[k++] = j;
      pos += len;
      continue;
    }
    const end = pos + len;
    for (let cursor = pos; cursor < end; k++) {
      const next = pieceEnd(cursor, end, size);
      c.start[k] = cursor;
      c.length[k] = next - cursor;
      c.ref[k] = -1;
      cursor = next;
    }
    pos = end;
  }
  return c;
}

/** Bounded parallelism, results in any order: a slow item does not hold up the others. */
async function unordered<T>(items: T[], width: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/**
 * Bounded parallelism with results in order. With `settle`, a failure is reported only once the
 * items in flight have ended (`settle` is called first: it must let them end, e.g. give back what
 * they wait for), so that nothing the call started still runs when it returns.
 */
async function pipeline<T, R>(items: T[], width: number, fn: (t: T, i: number) => Promise<R>, consume: (r: R, i: number) => Promise<void> | void, settle?: () => void): Promise<void> {
  const inflight = new Map<number, Promise<R>>();
  let next = 0;
  try {
    for (let i = 0; i < items.length; i++) {
      while (next < items.length && inflight.size < width) {
        const k = next++;
        const p = fn(items[k]!, k);
        p.catch(() => undefined);
        inflight.set(k, p);
      }
      const r = await inflight.get(i)!;
      inflight.delete(i);
      await consume(r, i);
    }
  } catch (e) {
    if (settle) {
      settle();
      await Promise.allSettled(inflight.values());
    }
    throw e;
  }
}

export class FilesystemRepository implements Repository {
  readonly path: string;
  private readonly config: RepoConfig;
  private readonly cut: { min: number; mask: number };
  private readonly keys: RepoKeys | null;
  private readonly packs: PackStore;
  /** Worker threads: restores and verification (and backups when the native engine is not available). */
  private readonly pool: WorkerPool;
  /** What names a backup's bytes and seals its new chunks. */
  readonly engine: ChunkEngine;
  /** Buffers in flight (memory stays bounded however many images run at once). */
  private readonly inflight: ByteBudget;
  /**
   * Incremental window batches in flight (also within `inflight`): two per engine lane, one being
   * hashed and sealed while the next is read. On the worker path each is read into a buffer that is
   * fresh memory the first time it is used: every buffer more is a batch's worth of page faults
   * (2048 for WINDOW_BATCH_BYTES), and on a host short of memory a fault costs 20–45 µs. Four per
   * lane were no faster on an 8-disk day of writes (measured with 2 MiB batches: 0.89 s either way,
   * median of 5 runs) and faulted 3.5 K more pages.
   */
  private readonly windows: ByteBudget;
  private readonly buffers: BufferPool;
  /**
   * Record blobs: the engine seals a segment's new chunks into one of these shared slabs, the pack
   * writer writes it from there, then the slab is free again. Nothing is allocated or handed over
   * per segment (fresh blobs cost page faults and, as external memory moving between threads,
   * frequent full collections on the main thread).
   */
  private readonly slabs = new BlobSlabs(12, SLAB_BYTES);
  /**
   * Stores whose new chunks are claimed (pending in the index) but not yet handed to the pack
   * writer: sealing, or waiting for a slab. Another backup may already count on those chunks, and
   * its flush makes durable only what the writer has.
   */
  private readonly sealing = new Set<Promise<void>>();
  private ready: Promise<void>;

  constructor(dir: string, config: RepoConfig, keys: RepoKeys | null, opts: { workers?: number; engine?: 'native' | 'workers' } = {}) {
    this.path = dir;
    this.config = config;
    // Cut the way this repository always has (its parents were cut so).
    this.cut = { min: config.chunker.min, mask: maskOf(config.chunker.maskBits) };
    this.keys = keys;
    // The repository's compression (QUIESCE_ZSTD_LEVEL makes it zstd at that level, for measurements).
    const seal = sealCodecOf(process.env.QUIESCE_ZSTD_LEVEL ? { codec: 'zstd', level: Number(process.env.QUIESCE_ZSTD_LEVEL) } : (config.compression ?? { codec: 'zstd', level: DEFAULT_ZSTD_LEVEL }));
    // Incremental window batches are read into these by the worker that gets the batch (the
    // `windows` budget keeps no more than this in flight: two batches a lane), where buffers of
    // each worker's own were faulted in as each one's peak. The native engine maps its reads.
    const lanes = opts.workers ?? defaultLanes();
    const readSlabs = new BlobSlabs(lanes * 2, WINDOW_BATCH_BYTES);
    this.pool = new WorkerPool(lanes, { op: 'init', encKey: keys?.encKey ?? null, idKey: keys?.idKey ?? null, cut: this.cut, slabs: this.slabs.all, readSlabs: readSlabs.all, seal });
    this.buffers = new BufferPool(lanes * 4 * SEGMENT);
    this.engine = createChunkEngine({ prefer: opts.engine, pool: this.pool, slabs: this.slabs, readSlabs, readSlabBytes: WINDOW_BATCH_BYTES, buffers: this.buffers, config: { cut: this.cut, keys, seal } });
    this.inflight = new ByteBudget(this.engine.lanes * 3 * SEGMENT);
    this.windows = new ByteBudget(this.engine.lanes * 2 * WINDOW_BATCH_BYTES);
    const packs = new PackStore(path.join(dir, 'packs'));
    this.packs = packs;
    this.ready = packs.refresh();
  }

  private pointFile(id: string): string {
    return path.join(this.path, 'points', `${id}.qpt`);
  }

  private locksDir(): string {
    return path.join(this.path, 'locks');
  }

  async readPoint(id: string): Promise<PointManifest> {
    assertPointId(id);
    let buf: Buffer;
    try {
      // Mapped: a parent's tables are read in place for the whole backup (and restore, verify).
      ({ buf } = await readFileShared(this.pointFile(id)));
    } catch {
      throw new RepositoryError('NOT_FOUND', `restore point ${id} not found in ${this.path}`);
    }
    return decodePoint(buf, id);
  }

  private async pointHeaders(): Promise<PointHeader[]> {
    const dir = path.join(this.path, 'points');
    const names = (await fs.promises.readdir(dir)).filter((n) => n.endsWith('.qpt'));
    const out: PointHeader[] = [];
    // Several at a time: a repository holds hundreds of points, each header a few small reads.
    await unordered(names, 16, async (n) => {
      const fh = await fs.promises.open(path.join(dir, n), 'r');
      try {
        const head = Buffer.alloc(8);
        await readExactly(fh, head, 0, 8, 0, `manifest ${n}`);
        const len = head.readUInt32LE(4);
        const buf = Buffer.alloc(8 + len);
        await readExactly(fh, buf, 0, 8 + len, 0, `manifest ${n}`);
        out.push(decodePointHeader(buf, n));
      } finally {
        await fh.close();
      }
    });
    // Plain code-unit order (ISO times, ASCII ids): localeCompare would load ICU's collation data first.
    const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
    return out.sort((a, b) => cmp(a.createdAt, b.createdAt) || cmp(a.id, b.id));
  }

  async listPoints(filter: { series?: string } = {}): Promise<PointSummary[]> {
    const all = await this.pointHeaders();
    return all.filter((h) => !filter.series || h.series === filter.series).map(summaryOf);
  }

  async getPoint(pointId: string): Promise<PointSummary> {
    return summaryOf((await this.readPoint(pointId)).header);
  }

  async latestPoint(series: string): Promise<PointSummary | null> {
    return (await this.latestPoints()).get(series) ?? null;
  }

  /** Each series' latest restore point, from one listing (many images at once: not one listing each). */
  async latestPoints(): Promise<Map<string, PointSummary>> {
    const latest = new Map<string, PointSummary>();
    // Oldest first: the last one seen of a series is its latest.
    for (const p of await this.listPoints()) latest.set(p.series, p);
    return latest;
  }

  // ------------------------------------------------------------------------------------------- backup

  async backup(input: BackupInput): Promise<BackupResult> {
    const started = Date.now();
    const rank = this.inflight.nextRank();
    if (!input.series || input.series.length > 256) throw new RepositoryError('VALIDATION', 'a backup needs a series name (1–256 characters)');
    if (input.disks.length === 0) throw new RepositoryError('VALIDATION', 'a backup needs at least one disk');
    if (new Set(input.disks.map((d) => d.index)).size !== input.disks.length) throw new RepositoryError('VALIDATION', 'disk indexes must be unique');
    const pointId = input.pointId ?? newPointId();
    assertPointId(pointId);
    if (fs.existsSync(this.pointFile(pointId))) throw new RepositoryError('CONFLICT', `restore point ${pointId} already exists`);
    // The parent is read while the workers start and the index loads (the first windows go out
    // before the index is there: on a machine short of memory, loading it takes the main thread
    // 100 ms and more of page faults, while the workers would wait).
    const parent = input.parentPointId ? await this.readPoint(input.parentPointId) : null;
    if (parent && parent.header.series !== input.series) throw new RepositoryError('VALIDATION', `parent ${input.parentPointId} belongs to series ${parent.header.series}, not ${input.series}`);
    for (const d of input.disks) {
      const size = d.source.sizeBytes;
      if (!Number.isSafeInteger(size) || size <= 0) throw new RepositoryError('VALIDATION', `disk ${d.index} has no size: not a disk image`);
      if (!d.changedExtents) continue;
      const parentEntries = parent?.disks.get(d.index);
      if (!parentEntries) throw new RepositoryError('VALIDATION', `changed extents for disk ${d.index} need a parent point that has this disk`);
      const parentSize = parentEntries.sizeBytes;
      if (parentSize !== size) throw new RepositoryError('VALIDATION', `disk ${d.index} is ${size} bytes but was ${parentSize} in the parent: read it in full`);
      for (const [off, len] of d.changedExtents) {
        if (!(Number.isSafeInteger(off) && Number.isSafeInteger(len) && off >= 0 && len >= 0 && off + len <= size)) throw new RepositoryError('VALIDATION', `extent [${off}, ${len}] is outside disk ${d.index} (${size} bytes)`);
      }
    }

    const lock = await acquireLock(this.locksDir(), 'shared', `backup ${input.series}`, { waitMs: 10 * 60_000, ...(input.signal ? { signal: input.signal } : {}) });
    // What another process's gc removed is seen before this backup counts on a chunk being there.
    const indexed = this.ready.then(() => this.packs.refresh());
    indexed.catch(() => undefined);
    const run: BackupRun = { rank, totals: { bytesTotal: 0, bytesDone: 0, bytesRead: 0, storedBytesAdded: 0 }, input, unconfirmed: [], indexed, failed: false };
    try {
      // The parent's chunks are safe from here on (prune and gc need the exclusive lock), if the
      // parent was not pruned before this backup got its lock.
      if (parent && !fs.existsSync(this.pointFile(parent.header.id))) throw new RepositoryError('CONFLICT', `parent ${parent.header.id} was pruned while this backup waited for its lock; run the backup again`);
      run.totals.bytesTotal = input.disks.reduce((a, d) => a + (d.changedExtents ? d.changedExtents.reduce((x, [, l]) => x + l, 0) : d.source.sizeBytes), 0);
      const diskResults: BackupDiskResult[] = [];
      const diskEntries = new Map<number, TableOut>();
      for (const d of input.disks) {
        const before = { read: run.totals.bytesRead, stored: run.totals.storedBytesAdded };
        const parentEntries = parent?.disks.get(d.index);
        const entries = d.changedExtents
          ? await this.backupChanged(d, parentEntries!, run)
          : parentEntries && parentEntries.sizeBytes === d.source.sizeBytes
            ? await this.backupAgainstParent(d, parentEntries, run)
            : await this.backupFull(d, run);
        diskResults.push({ index: d.index, logicalBytes: d.source.sizeBytes, bytesRead: run.totals.bytesRead - before.read, storedBytesAdded: run.totals.storedBytesAdded - before.stored });
        diskEntries.set(d.index, entries);
      }
      await run.indexed;
      // Chunks this backup found pending were claimed by stores still in flight: they reach the
      // writer before the flush (else a backup that finishes first fails on them, run again).
      await Promise.allSettled([...this.sealing]);
      await this.packs.flush();
      // Every chunk the manifest names must be durable now. The parent's and those found durable
      // are (the lock keeps them). A pending chunk is withdrawn when the pack it went to fails to be
      // written, whichever backup's flush reports it: then this backup fails and is retried.
      for (const { ids, picks } of run.unconfirmed) {
        const k = this.packs.index.firstNotDurable(ids, picks);
        if (k >= 0) throw new RepositoryError('CONFLICT', `chunk ${idKey(Buffer.from(ids.buffer, ids.byteOffset + k * ID_BYTES, ID_BYTES))} was not stored by the backup that claimed it; run the backup again`);
      }
      const header: PointHeader = {
        format: FORMAT_VERSION,
        id: pointId,
        series: input.series,
        createdAt: new Date().toISOString(),
        parentPointId: parent ? parent.header.id : null,
        meta: input.meta ?? {},
        disks: input.disks.map((d) => ({ index: d.index, label: d.label ?? `disk${d.index}`, sizeBytes: d.source.sizeBytes, entries: diskEntries.get(d.index)!.n })),
      };
      if (input.signal?.aborted) throw abortError(input.signal);
      await input.beforeCommit?.();
      await writeFileAtomic(this.pointFile(pointId), encodePoint(header, diskEntries));
      return {
        pointId,
        series: input.series,
        createdAt: header.createdAt,
        logicalBytes: header.disks.reduce((a, d) => a + d.sizeBytes, 0),
        bytesRead: run.totals.bytesRead,
        storedBytesAdded: run.totals.storedBytesAdded,
        seconds: (Date.now() - started) / 1000,
        disks: diskResults,
      };
    } finally {
      lock.release();
    }
  }

  /**
   * Names the parts of one batch of bytes in the engine and stores the new chunks (claimed in the
   * index, sealed into pack records, handed to the pack writer). Returns each part's chunks in
   * order (zeros have no id) and whether it resynced.
   */
  private async ingest(bytes: BatchBytes, run: BackupRun, parts: NamePart[]): Promise<Array<{ chunks: Named; resynced: boolean }>> {
    const h = await this.engine.name(bytes, parts, true);
    const all: Named = { lengths: h.lengths, ids: h.ids, zero: h.zero, from: 0, to: h.lengths.length };
    await this.store(h.seg!, all, run);
    let k = 0;
    return parts.map((_, i) => {
      const n = h.partCounts[i]!;
      // Written out, not spread: every Named has one shape (a spread one deoptimised appendNamed, 'wrong map').
      const chunks: Named = { lengths: all.lengths, ids: all.ids, zero: all.zero, from: k, to: k + n };
      k += n;
      return { chunks, resynced: !!h.resynced[i] };
    });
  }

  /**
   * The chunks the engine named (it still holds their bytes): new ones are claimed in the index and
   * sealed into pack records; the engine lets the bytes go.
   */
  private async store(seg: SegmentHandle, named: Named, run: BackupRun): Promise<void> {
    await run.indexed;
    const { from, to } = named;
    // Claimed in one pass (in C when the addon is there): a new chunk is pending from here on.
    const flags = this.packs.index.claim(named.ids, named.zero, from, to);
    const fresh: number[] = [];
    const counted: number[] = [];
    for (let k = from; k < to; k++) {
      const f = flags[k - from]!;
      if (f === 1) fresh.push(k);
      if (f !== 0) counted.push(k);
    }
    if (counted.length) run.unconfirmed.push({ ids: named.ids, picks: Uint32Array.from(counted) });
    if (fresh.length === 0) {
      await this.engine.drop(seg);
      return;
    }
    const handing = this.seal(seg, named, fresh, run);
    this.sealing.add(handing);
    try {
      await handing;
    } finally {
      this.sealing.delete(handing);
    }
  }

  /** Seals the claimed chunks `fresh` of a named segment into pack records and hands them to the writer. */
  private async seal(seg: SegmentHandle, named: Named, fresh: number[], run: BackupRun): Promise<void> {
    const { lengths } = named;
    // The slab the records are sealed into, freed once: when the writer is done with it, or when
    // they did not go there (too big for a slab) or never reached the writer.
    let slab: number | null = null;
    const freeSlab = () => {
      if (slab === null) return;
      this.slabs.release(slab);
      slab = null;
    };
    try {
      // Room for the records at their largest (header, the codecs' bound, the seal's nonce and tag).
      const room = fresh.reduce((a, k) => a + lengths[k]! + (lengths[k]! >> 7) + 160, 0);
      if (room <= SLAB_BYTES) slab = await this.slabs.take();
      const s = await this.engine.seal(seg, fresh, slab);
      // In the slab, or (records bigger than a slab) in a blob of its own.
      const blob = s.blob ?? this.slabs.view(slab!, s.blobLen);
      if (s.blob) freeSlab();
      const idAt = new Uint32Array(fresh.length);
      const rawLen = new Uint32Array(fresh.length);
      fresh.forEach((k, j) => {
        idAt[j] = k * ID_BYTES;
        rawLen[j] = lengths[k]!;
      });
      // Appends fail only before the writer takes the blob.
      await this.packs.appendRecords({ blob, n: fresh.length, ids: named.ids, idAt, at: s.at, storedLen: s.storedLen, rawLen, codec: s.codecs }, freeSlab, true);
      run.totals.storedBytesAdded += blob.length;
    } catch (e) {
      freeSlab();
      // Claimed but never handed to the writer: they must not count as stored.
      for (const k of fresh) if (this.packs.index.isPending(namedId(named, k))) this.packs.index.delete(namedId(named, k));
      throw e;
    }
  }

  /** Reads `target.byteLength` bytes at `offset` into `target` (a slice of a pooled buffer). */
  private async readSlice(d: BackupDiskInput, offset: number, target: Uint8Array, run: BackupRun): Promise<void> {
    if (d.source.readInto) await d.source.readInto(offset, target);
    else {
      const data = await d.source.read(offset, target.byteLength);
      if (data.byteLength !== target.byteLength) throw new RepositoryError('INTERNAL', `disk ${d.index}: read ${data.byteLength} of ${target.byteLength} bytes at ${offset}`);
      target.set(data);
    }
    run.totals.bytesRead += target.byteLength;
  }

  /**
   * The bytes of `slices` ([offset, length] of the disk, laid end to end) for the engine: a source
   * with a descriptor is read by the engine itself; any other is read here into a pooled buffer
   * (or one the source made, when it made a whole one).
   */
  private async readSlices(d: BackupDiskInput, slices: Array<[number, number]>, run: BackupRun): Promise<BatchBytes> {
    if (run.input.signal?.aborted) throw abortError(run.input.signal);
    if (run.failed) throw new RepositoryError('INTERNAL', 'another part of this backup failed');
    const len = slices.reduce((a, [, l]) => a + l, 0);
    if (d.source.fd !== undefined) {
      const reads: number[] = [];
      let at = 0;
      for (const [off, l] of slices) {
        reads.push(off, at, l);
        at += l;
      }
      run.totals.bytesRead += len;
      const mappable = len >= MAP_MIN && slices.every(([off, l]) => off + l <= d.source.sizeBytes);
      return { fd: d.source.fd, reads, len, mappable };
    }
    if (slices.length === 1 && !d.source.readInto) {
      const [off] = slices[0]!;
      const data = await d.source.read(off, len);
      if (data.byteLength !== len) throw new RepositoryError('INTERNAL', `disk ${d.index}: read ${data.byteLength} of ${len} bytes at ${off}`);
      run.totals.bytesRead += len;
      // A fresh buffer that owns its whole ArrayBuffer goes to the engine as it is.
      if (data.byteOffset === 0 && data.buffer.byteLength === len && data.buffer instanceof ArrayBuffer) return { buf: data.buffer, len };
      const ab = this.buffers.take(len);
      new Uint8Array(ab).set(data);
      return { buf: ab, len };
    }
    // Into a buffer the engine handed back: no allocation, no page faults, nothing for the GC.
    const ab = this.buffers.take(len);
    let at = 0;
    await Promise.all(
      slices.map(([off, l]) => {
        const p = this.readSlice(d, off, new Uint8Array(ab, at, l), run);
        at += l;
        return p;
      }),
    );
    return { buf: ab, len };
  }

  /** A full read, segment by segment, in parallel; segments with no allocated data are not read. */
  private async backupFull(d: BackupDiskInput, run: BackupRun): Promise<TableOut> {
    const size = d.source.sizeBytes;
    const allocated: Extent[] = d.source.allocatedExtents ? await d.source.allocatedExtents() : [[0, size]];
    const segments: Array<[number, number, boolean]> = [];
    for (let off = 0; off < size; off += SEGMENT) {
      const end = Math.min(size, off + SEGMENT);
      segments.push([off, end, allocated.some(([a, l]) => a < end && a + l > off)]);
    }
    const out = new DiskTableBuilder(Math.ceil(size / (16 << 10)));
    await pipeline(
      segments,
      this.engine.lanes * 2,
      async ([off, end, hasData]) =>
        hasData ? this.inflight.run(end - off, run.rank, async () => (await this.ingest(await this.readSlices(d, [[off, end - off]], run), run, [{ at: 0, length: end - off, base: off, final: true, mode: 'cdc', bounds: [], resyncAfter: Infinity }]))[0]!.chunks) : null,
      (chunks, i) => {
        const [off, end] = segments[i]!;
        if (chunks) appendNamed(out, chunks);
        else out.zeros(end - off);
        run.totals.bytesDone += end - off;
        run.input.onProgress?.({ ...run.totals });
      },
      settleRun(run),
    );
    return out.finishPieces();
  }

  /**
   * A full read compared with the parent, for when nothing says what changed (a first incremental,
   * changed-block tracking reset): each segment is hashed at the parent's chunk boundaries, without
   * chunking it. A chunk with the same content at the same place is the parent's chunk (the cuts
   * after it fall the same way); the chunks that differ become changed extents, re-chunked and
   * stored as an incremental from extents would.
   */
  private async backupAgainstParent(d: BackupDiskInput, parentEntries: DiskTable, run: BackupRun): Promise<TableOut> {
    const size = d.source.sizeBytes;
    const parent = expandChunks(parentEntries, size);
    const allocated: Extent[] = d.source.allocatedExtents ? await d.source.allocatedExtents() : [[0, size]];
    const segments: Array<{ off: number; end: number; hasData: boolean; first: number; last: number }> = [];
    let k = 0;
    for (let off = 0; off < size; off += SEGMENT) {
      const end = Math.min(size, off + SEGMENT);
      const first = k;
      while (k < parent.n && parent.start[k]! < end) k++;
      // Cuts restart at every segment: no parent chunk crosses a segment boundary.
      if (k > first && parent.start[k - 1]! + parent.length[k - 1]! !== end) return this.backupFull(d, run);
      segments.push({ off, end, hasData: allocated.some(([a, l]) => a < end && a + l > off), first, last: k });
    }
    const changed: Extent[] = [];
    const mark = (start: number, length: number) => {
      const prev = changed[changed.length - 1];
      if (prev && prev[0] + prev[1] === start) prev[1] += length;
      else changed.push([start, length]);
    };
    await pipeline(
      segments,
      this.engine.lanes * 2,
      async (sg) => {
        const lengths = Array.from(parent.length.subarray(sg.first, sg.last));
        if (!sg.hasData) return { ids: null, zero: null, lengths };
        return this.inflight.run(sg.end - sg.off, run.rank, async () => {
          const bytes = await this.readSlices(d, [[sg.off, sg.end - sg.off]], run);
          // Only the names: hashed at the parent's cuts, nothing kept.
          const h = await this.engine.name(bytes, [{ at: 0, length: sg.end - sg.off, base: sg.off, final: true, mode: 'given', bounds: lengths, resyncAfter: 0 }], false);
          return { ids: h.ids, zero: h.zero, lengths };
        });
      },
      (r, i) => {
        const sg = segments[i]!;
        for (let j = 0; j < r.lengths.length; j++) {
          const k = sg.first + j;
          const ref = parent.ref[k]!;
          const at = parentEntries.idAt(ref);
          // A hole in the source reads as zeros.
          const same = r.ids === null ? ref < 0 : ref < 0 ? r.zero![j] === 1 : r.zero![j] === 0 && r.ids.compare(parentEntries.bytes, at, at + 32, j * 32, j * 32 + 32) === 0;
          if (!same) mark(parent.start[k]!, parent.length[k]!);
        }
        run.totals.bytesDone += sg.end - sg.off;
        run.input.onProgress?.({ ...run.totals });
      },
      settleRun(run),
    );
    if (changed.length === 0) return parentEntries;
    run.totals.bytesTotal += changed.reduce((a, [, l]) => a + l, 0);
    return this.backupChanged({ ...d, changedExtents: changed }, parentEntries, run);
  }

  /**
   * An incremental from changed extents; every chunk outside them is the parent's, unread. A long
   * extent (CDC_EXTENT_MIN) gets a window from the parent's boundary before it, re-chunked until
   * the cuts fall back on the parent's boundaries. A short one is re-read and re-hashed at the
   * parent's own cuts, from the boundary before it to the boundary after it.
   */
  private async backupChanged(d: BackupDiskInput, parentEntries: DiskTable, run: BackupRun): Promise<TableOut> {
    const size = d.source.sizeBytes;
    const cuts = new ParentCuts(parentEntries);
    const wins = planWindows(d.changedExtents!, cuts, size);
    type Result = { start: number; end: number; chunks: Named[] };
    const results = new Array<Result>(wins.length);
    /**
     * A window that has not resynced yet goes on from its last cut (cuts found before a read's end
     * are final: chunking restarts at each cut), so nothing is read twice.
     */
    const carryOn = async (w: ChangedWindow, from: number, chunks: Named[], end: number): Promise<Result> => {
      for (;;) {
        // Outside the byte budget: these reads are small and rare, and the caller may hold budget.
        const [r] = await this.ingest(await this.readSlices(d, [[from, end - from]], run), run, [{ at: 0, length: end - from, base: from, final: end === w.segEnd, mode: 'cdc', bounds: cuts.between(from, end), resyncAfter: Math.max(0, w.resyncAfter - from) }]);
        chunks.push(r!.chunks);
        from += namedBytes(r!.chunks);
        if (r!.resynced) return { start: w.start, end: from, chunks };
        if (end === w.segEnd) throw new RepositoryError('INTERNAL', 'chunking did not end at the segment end');
        end = Math.min(w.segEnd, Math.max(end, from) + RESYNC_STEP);
      }
    };
    const process = (w: ChangedWindow) => carryOn(w, w.start, [], w.end);
    const batches = batchWindows(wins);
    const batchBytes = (batch: number[]) => batch.reduce((a, i) => a + wins[i]!.end - wins[i]!.start, 0);
    await pipeline(
      batches,
      this.engine.lanes * 4,
      (batch) => {
        const bytes = batchBytes(batch);
        return this.windows.run(Math.max(WINDOW_BATCH_BYTES, bytes), run.rank, () => this.inflight.run(bytes, run.rank, async () => {
          const parts: NamePart[] = [];
          const slices: Array<[number, number]> = [];
          let at = 0;
          for (const i of batch) {
            const w = wins[i]!;
            const length = w.end - w.start;
            parts.push({ at, length, base: w.start, final: w.end === w.segEnd, mode: w.keepCuts ? 'keep' : 'cdc', bounds: cuts.between(w.start, w.end), resyncAfter: w.resyncAfter - w.start });
            slices.push([w.start, length]);
            at += length;
          }
          const rs = await this.ingest(await this.readSlices(d, slices, run), run, parts);
          // The rare window that did not resync within its lookahead goes on alone.
          return Promise.all(
            rs.map((r, j) => {
              const w = wins[batch[j]!]!;
              const from = w.start + namedBytes(r.chunks);
              if (r.resynced) return { start: w.start, end: from, chunks: [r.chunks] };
              if (w.end === w.segEnd) throw new RepositoryError('INTERNAL', 'chunking did not end at the segment end');
              return carryOn(w, from, [r.chunks], Math.min(w.segEnd, Math.max(w.end, from) + RESYNC_STEP));
            }),
          );
        }));
      },
      (rs, b) => {
        batches[b]!.forEach((i, j) => {
          results[i] = rs[j]!;
          run.totals.bytesDone += Math.min(wins[i]!.resyncAfter, rs[j]!.end) - rs[j]!.start;
        });
        run.input.onProgress?.({ ...run.totals });
      },
      settleRun(run),
    );
    // Splice: parent chunks between the windows, new chunks inside them. A window that resynced past
    // the start of the next one is redone from its resync point (rare: edits close together).
    // The parent's runs between windows stay slices of its table: the builder writes the new entries (and short runs).
    const out = new DiskTableBuilder(results.reduce((a, r) => a + r.chunks.reduce((x, c) => x + c.to - c.from, 0), 0) + 4 * results.length + 64);
    let pos = 0;
    for (let i = 0; i < results.length; i++) {
      let r = results[i]!;
      if (r.start < pos) {
        const w = wins[i]!;
        if (w.resyncAfter <= pos) continue;
        r = await process({ ...w, start: pos });
      }
      if (!cuts.isCut(r.start)) throw new RepositoryError('INTERNAL', `incremental window at ${r.start} is not on a parent boundary`);
      // The parent's chunks up to the window, in runs of whole entries.
      cuts.copyTo(out, pos, r.start);
      for (const c of r.chunks) appendNamed(out, c);
      pos = r.end;
      if (!cuts.isCut(pos)) throw new RepositoryError('INTERNAL', `incremental resync at ${pos} is not a parent boundary`);
    }
    cuts.copyTo(out, pos, size);
    const table = out.finishPieces();
    if (table.sizeBytes !== size) throw new RepositoryError('INTERNAL', `incremental covers ${table.sizeBytes} of ${size} bytes`);
    return table;
  }

  // ------------------------------------------------------------------------------------------ restore

  /**
   * Streams one disk's bytes in order to `sink`, as runs: zero runs as `null`, runs of consecutive
   * chunks as one buffer. Records adjacent in a pack are read with one read; the workers decode them
   * and check each against its id; several batches are in flight. The sink calls `release` when it
   * is done with a run's buffer (then the batch's buffer is reused; a sink that never calls it only
   * leaves the buffer to the garbage collector).
   */
  private async streamDisk(pointId: string, diskIndex: number, sink: (offset: number, data: Buffer | null, length: number, release?: () => void) => Promise<void> | void, signal?: AbortSignal): Promise<{ sizeBytes: number }> {
    // Restores go ahead of backups (someone is waiting; a backup's window can take the delay).
    const rank = this.inflight.nextRank(true);
    // The workers decode and check what is read: they start while the manifest and index load.
    this.pool.warm();
    await this.ready;
    const m = await this.readPoint(pointId);
    const entries = m.disks.get(diskIndex);
    if (!entries) throw new RepositoryError('NOT_FOUND', `restore point ${pointId} has no disk ${diskIndex}`);
    const sizeBytes = m.header.disks.find((d) => d.index === diskIndex)!.sizeBytes;
    await this.packs.refresh();
    // Every chunk's place, as columns (no object per chunk: a disk has tens of thousands).
    const index = this.packs.index;
    const loc = index.locate(entries);
    if (loc.missing >= 0) throw new RepositoryError('INTERNAL', `restore point ${pointId} needs chunk ${idKey(entries.id(loc.missing)!)} that is missing from the repository (run verify)`);
    const starts = entries.entryStarts;
    // Batches of entries [from, to) holding about RESTORE_BATCH_BYTES of chunks each.
    const batches: Array<[number, number]> = [];
    /** Entry k is data and starts a run of data entries (in its batch, `from`). */
    const runStarts = (k: number, from: number) => loc.packNo[k] !== NO_PACK && (k === from || loc.packNo[k - 1] === NO_PACK);
    for (let k = 0, from = 0, bytes = 0; k < entries.n; k++) {
      if (loc.packNo[k] !== NO_PACK) bytes += loc.rawLen[k]! + (runStarts(k, from) ? DIRECT_ALIGN : 0);
      if (bytes >= RESTORE_BATCH_BYTES || k === entries.n - 1) {
        batches.push([from, k + 1]);
        from = k + 1;
        bytes = 0;
      }
    }
    const packDir = path.join(this.path, 'packs');
    // Budget taken by batches not handed to the sink yet: given back if the stream fails.
    const held = new Set<() => void>();
    let ended = false;
    // A failed restore returns once its other batches are done (they read mapped packs: nothing of
    // the call may still touch the repository's files after it returns); those waiting for budget
    // get it and stop.
    const end = () => {
      ended = true;
      for (const free of [...held]) free();
    };
    try {
      await pipeline(
        batches,
        this.pool.size * 2,
        async ([from, to]) => {
          // The budget is held until the sink has taken the batch (its writer bounds what it holds).
          const taken = await this.inflight.acquire(RESTORE_BATCH_BYTES, rank);
          const free = () => {
            held.delete(free);
            taken();
          };
          held.add(free);
          try {
            if (ended) throw new RepositoryError('CONFLICT', 'the restore stream has ended');
            if (signal?.aborted) throw abortError(signal);
            let count = 0;
            let runs = 0;
            let raw = 0;
            for (let k = from; k < to; k++) {
              if (loc.packNo[k] === NO_PACK) continue;
              count++;
              raw += loc.rawLen[k]!;
              if (runStarts(k, from)) runs++;
            }
            if (count === 0) return { from, to, data: null, out: null, runAt: [], free };
            // Each run of chunks is decoded where its address agrees with its image offset modulo a
            // block: the image writer then writes its whole blocks from there, without a copy.
            // Laid from `at` on, the runs sit in huge pages: their writes go out whole.
            const { ab: out, at } = takeOnHugePages(this.buffers, raw + runs * DIRECT_ALIGN);
            const runAt: number[] = [];
            const outAt = new Float64Array(count);
            // Spans of records adjacent in one pack (headers between them included): the worker reads
            // each with one read, decodes every record into `out`, checks it against its id.
            const spanFile: string[] = [];
            const spanFrom: number[] = [];
            const spanTo: number[] = [];
            const spanAt: number[] = [];
            const where = new Float64Array(count);
            const storedLen = new Uint32Array(count);
            const rawLen = new Uint32Array(count);
            const codec = new Uint8Array(count);
            // Ids are read where the entries hold them (a copy of the batch's part of the table).
            const idAt = new Float64Array(count);
            let total = 0;
            let o = at;
            let lastPack = NO_PACK;
            for (let k = from, j = 0; k < to; k++) {
              const p = loc.packNo[k]!;
              if (p === NO_PACK) continue;
              if (runStarts(k, from)) {
                o = alignedOffset(out, o, starts[k]!);
                runAt.push(o);
              }
              outAt[j] = o;
              o += loc.rawLen[k]!;
              if (loc.rawLen[k] !== starts[k + 1]! - starts[k]!) throw new RepositoryError('INTERNAL', `chunk ${idKey(entries.id(k)!)} is damaged: its index entry holds ${loc.rawLen[k]} bytes, the restore point ${starts[k + 1]! - starts[k]!} (run verify)`);
              const offset = loc.offset[k]!;
              const stored = loc.storedLen[k]!;
              const last = spanFile.length - 1;
              if (last >= 0 && p === lastPack && offset - RECORD_HEADER_BYTES === spanTo[last] && spanTo[last]! - spanFrom[last]! < 32 << 20) {
                where[j] = spanAt[last]! + (offset - spanFrom[last]!);
                total += offset + stored - spanTo[last]!;
                spanTo[last] = offset + stored;
              } else {
                spanFile.push(index.packName(p));
                spanFrom.push(offset);
                spanTo.push(offset + stored);
                spanAt.push(total);
                where[j] = total;
                total += stored;
              }
              lastPack = p;
              storedLen[j] = stored;
              rawLen[j] = loc.rawLen[k]!;
              codec[j] = loc.codec[k]!;
              // Where entry k's id lies in the copy of the batch's entries below.
              idAt[j] = entries.idAt(k - from);
              j++;
            }
            const ids = Uint8Array.from(entries.bytes.subarray(from * ENTRY_BYTES, to * ENTRY_BYTES));
            const r = await this.pool.call<{ out: ArrayBuffer; bad: Array<{ chunkId: string; problem: string }> }>(
              this.pool.pick(),
              { op: 'restoreBatch', dir: packDir, spanFile, spanFrom, spanTo, spanAt, total, where, storedLen, rawLen, codec, ids: ids.buffer, idAt, out, outAt },
              [where.buffer, storedLen.buffer, rawLen.buffer, codec.buffer, ids.buffer, idAt.buffer, outAt.buffer, out],
            );
            if (r.bad.length) {
              this.buffers.give(r.out);
              throw new RepositoryError('INTERNAL', `chunk ${r.bad[0]!.chunkId} is damaged: ${r.bad[0]!.problem} (run verify)`);
            }
            return { from, to, data: Buffer.from(r.out), out: r.out, runAt, free };
          } catch (e) {
            free();
            throw e;
          }
        },
        async ({ from, to, data, out, runAt, free }) => {
          let run = 0;
          // The batch's buffer goes back to the pool once the sink is done with every run of it.
          let pending = 1;
          const release = () => {
            if (--pending === 0) this.buffers.give(out);
          };
          for (let k = from; k < to; ) {
            const zeros = loc.packNo[k] === NO_PACK;
            const at = k;
            while (k < to && (loc.packNo[k] === NO_PACK) === zeros) k++;
            const len = starts[k]! - starts[at]!;
            if (zeros) {
              await sink(starts[at]!, null, len);
              continue;
            }
            pending++;
            const o = runAt[run++]!;
            await sink(starts[at]!, data!.subarray(o, o + len), len, release);
          }
          release();
          free();
        },
        end,
      );
    } finally {
      end();
    }
    return { sizeBytes };
  }

  async restoreDisk(input: { pointId: string; diskIndex: number; outPath: string; signal?: AbortSignal; onProgress?: (bytesDone: number) => void; digest?: boolean }): Promise<RestoreDiskResult> {
    const started = Date.now();
    const m = await this.readPoint(input.pointId);
    if (!m.disks.has(input.diskIndex)) throw new RepositoryError('NOT_FOUND', `restore point ${input.pointId} has no disk ${input.diskIndex}`);
    const out = await openImageWriter(input.outPath);
    const digest = input.digest === false ? null : new ImageDigest();
    let written = 0;
    let done = 0;
    try {
      const { sizeBytes } = await this.streamDisk(
        input.pointId,
        input.diskIndex,
        async (_offset, data, length, release) => {
          if (data) {
            digest?.update(data);
            written += data.length;
          } else digest?.zeros(length);
          await out.put(data, length, release);
          done += length;
          input.onProgress?.(done);
        },
        input.signal,
      );
      await out.finish(sizeBytes);
      return { bytesWritten: written, sizeBytes, digest: digest?.digest() ?? null, seconds: (Date.now() - started) / 1000 };
    } catch (e) {
      await out.close();
      throw e;
    }
  }

  async digestDisk(input: { pointId: string; diskIndex: number; signal?: AbortSignal }): Promise<{ digest: string; sizeBytes: number }> {
    const d = new ImageDigest();
    const { sizeBytes } = await this.streamDisk(
      input.pointId,
      input.diskIndex,
      (_o, data, length, release) => {
        if (data) d.update(data);
        else d.zeros(length);
        release?.();
      },
      input.signal,
    );
    return { digest: d.digest(), sizeBytes };
  }

  // --------------------------------------------------------------------------------- stats, verify

  async stats(): Promise<RepoStats> {
    await this.ready;
    await this.packs.refresh();
    const headers = await this.pointHeaders();
    const logicalBytes = headers.reduce((a, h) => a + h.disks.reduce((x, d) => x + d.sizeBytes, 0), 0);
    let storedBytes = 0;
    for (const sub of ['packs', 'points']) {
      for (const n of await fs.promises.readdir(path.join(this.path, sub))) storedBytes += (await fs.promises.stat(path.join(this.path, sub, n))).size;
    }
    return { logicalBytes, storedBytes, chunks: this.packs.index.size, dedupRatio: storedBytes > 0 ? logicalBytes / storedBytes : 0, points: headers.length };
  }

  async verify(input: { pointId?: string; signal?: AbortSignal } = {}): Promise<VerifyReport> {
    this.pool.warm();
    await this.ready;
    const started = Date.now();
    await this.packs.refresh();
    const points: PointManifest[] = [];
    const pointErrors: string[] = [];
    /** Every manifest (or only the one asked for), read while the packs are checked. */
    const readPoints = async () => {
      for (const h of await this.pointHeaders().catch(() => [])) {
        if (input.pointId && h.id !== input.pointId) continue;
        try {
          points.push(await this.readPoint(h.id));
        } catch {
          pointErrors.push(h.id);
        }
      }
    };
    const pointsRead = readPoints();
    // One point's chunks are known only from its manifest.
    if (input.pointId) await pointsRead;
    if (input.pointId && points.length === 0 && pointErrors.length === 0) throw new RepositoryError('NOT_FOUND', `restore point ${input.pointId} not found`);
    const wanted = input.pointId ? new Set(points.flatMap((p) => [...p.disks.values()].flatMap((t) => t.entries()).filter((e) => e.id).map((e) => idKey(e.id!)))) : null;
    const damaged = new Map<string, string>();
    let chunksChecked = 0;
    let bytesChecked = 0;
    const packDir = path.join(this.path, 'packs');
    const idxNames = (await fs.promises.readdir(packDir)).filter((n) => n.endsWith('.idx'));
    // Packs are checked in parallel, in any order, two per worker at a time: a worker gets the
    // pack's index file as it is, reads the pack window by window, checks every record's header
    // against the index, decodes it and re-hashes it; only the problems come back.
    await unordered(idxNames, this.pool.size * 2, async (n) => {
      if (input.signal?.aborted) throw abortError(input.signal);
      const pack = n.slice(0, -4);
      const file = await fs.promises.readFile(path.join(packDir, n));
      const count = idxEntryCount(file, n);
      let keep: Uint8Array | null = null;
      if (wanted) {
        keep = new Uint8Array(count);
        for (let i = 0; i < count; i++) keep[i] = wanted.has(idKey(file.subarray(8 + i * IDX_ENTRY_BYTES, 8 + i * IDX_ENTRY_BYTES + ID_BYTES))) ? 1 : 0;
        if (!keep.includes(1)) return;
      }
      // Handed over whole (a copy only when the read buffer is shared).
      const idx = file.byteOffset === 0 && file.buffer.byteLength === file.length ? (file.buffer as ArrayBuffer) : new Uint8Array(file).buffer;
      const r = await this.pool.call<{ bad: Array<{ chunkId: string; problem: string }>; count: number; bytes: number }>(this.pool.pick(), { op: 'verifyPack', file: path.join(packDir, `${pack}.pack`), pack, idx, keep }, [idx, ...(keep ? [keep.buffer as ArrayBuffer] : [])]);
      for (const b of r.bad) damaged.set(b.chunkId, b.problem);
      chunksChecked += r.count;
      bytesChecked += r.bytes;
    });
    await pointsRead;
    // Chunks a manifest names that no pack holds.
    for (const p of points) {
      for (const t of p.disks.values()) {
        for (let k = 0; k < t.n; k++) {
          const id = t.id(k);
          if (id && !this.packs.index.isDurable(id)) damaged.set(idKey(id), 'missing from every pack index');
        }
      }
    }
    const byChunk = new Map<string, string[]>();
    for (const p of damaged.size ? points : []) {
      for (const t of p.disks.values()) {
        for (const e of t.entries()) {
          if (!e.id) continue;
          const k = idKey(e.id);
          if (damaged.has(k)) {
            const l = byChunk.get(k) ?? [];
            if (!l.includes(p.header.id)) l.push(p.header.id);
            byChunk.set(k, l);
          }
        }
      }
    }
    const damagedChunks = [...damaged.entries()].map(([id, problem]) => ({ id, problem, points: byChunk.get(id) ?? [] }));
    const brokenPoints = [...new Set([...damagedChunks.flatMap((d) => d.points), ...pointErrors])].sort();
    return { ok: damagedChunks.length === 0 && pointErrors.length === 0, chunksChecked, bytesChecked, damagedChunks, brokenPoints, seconds: (Date.now() - started) / 1000 };
  }

  // ------------------------------------------------------------------------------------ prune, gc

  async prune(input: { keepLast: number; series?: string }): Promise<{ removed: string[]; kept: number }> {
    if (!Number.isInteger(input.keepLast) || input.keepLast < 1) throw new RepositoryError('VALIDATION', '--keep-last must be a whole number of at least 1');
    await this.ready;
    const lock = await acquireLock(this.locksDir(), 'exclusive', 'prune', { waitMs: 30_000 });
    try {
      const bySeries = new Map<string, PointHeader[]>();
      for (const h of await this.pointHeaders()) {
        if (input.series && h.series !== input.series) continue;
        bySeries.set(h.series, [...(bySeries.get(h.series) ?? []), h]);
      }
      const removed: string[] = [];
      let kept = 0;
      for (const hs of bySeries.values()) {
        const drop = hs.slice(0, Math.max(0, hs.length - input.keepLast));
        kept += hs.length - drop.length;
        for (const h of drop) {
          await fs.promises.rm(this.pointFile(h.id), { force: true });
          removed.push(h.id);
        }
      }
      return { removed, kept };
    } finally {
      lock.release();
    }
  }

  /** Removes chunks no manifest refers to; rewrites packs that are mostly garbage. Exclusive with backups. */
  async gc(opts: { waitMs?: number } = {}): Promise<{ packsRemoved: number; packsRewritten: number; chunksRemoved: number; bytesFreed: number }> {
    await this.ready;
    const lock = await acquireLock(this.locksDir(), 'exclusive', 'gc', { waitMs: opts.waitMs ?? 60_000 });
    try {
      await this.packs.refresh();
      const live = new Set<string>();
      for (const h of await this.pointHeaders()) {
        const m = await this.readPoint(h.id);
        for (const t of m.disks.values()) for (let k = 0; k < t.n; k++) if (t.hasId(k)) live.add(idKey(t.id(k)!));
      }
      const packDir = path.join(this.path, 'packs');
      let packsRemoved = 0;
      let packsRewritten = 0;
      let chunksRemoved = 0;
      let bytesFreed = 0;
      const names = await fs.promises.readdir(packDir);
      // Leftovers of crashed writers: temp files, packs without an index.
      for (const n of names) {
        const full = path.join(packDir, n);
        if (n.startsWith('.tmp-') || (n.endsWith('.pack') && !names.includes(`${n.slice(0, -5)}.idx`))) {
          bytesFreed += (await fs.promises.stat(full)).size;
          await fs.promises.rm(full, { force: true });
        }
      }
      for (const n of names.filter((x) => x.endsWith('.idx'))) {
        const pack = n.slice(0, -4);
        const entries = decodeIdx(await fs.promises.readFile(path.join(packDir, n)), n);
        const used = entries.filter((e) => live.has(idKey(e.id)));
        const packFile = path.join(packDir, `${pack}.pack`);
        const size = (await fs.promises.stat(packFile).catch(() => ({ size: 0 }))).size;
        const usedBytes = used.reduce((a, e) => a + e.storedLen + RECORD_HEADER_BYTES, 0);
        if (used.length === entries.length && usedBytes > size * 0.8) continue;
        if (used.length > 0 && usedBytes > size * 0.7) continue;
        if (used.length > 0) {
          const fh = await fs.promises.open(packFile, 'r');
          try {
            const sealed: SealedChunk[] = [];
            for (const e of used) {
              const payload = Buffer.alloc(e.storedLen);
              await readExactly(fh, payload, 0, e.storedLen, e.offset, `pack ${pack}`);
              sealed.push({ id: e.id, codec: e.codec, rawLen: e.rawLen, payload });
              this.packs.index.delete(e.id);
            }
            await this.packs.append(sealed);
            await this.packs.flush();
          } finally {
            await fh.close();
          }
          packsRewritten++;
        } else packsRemoved++;
        for (const e of entries) if (!live.has(idKey(e.id))) {
          this.packs.index.delete(e.id);
          chunksRemoved++;
        }
        await fs.promises.rm(path.join(packDir, n), { force: true });
        await fs.promises.rm(packFile, { force: true });
        bytesFreed += size - (used.length > 0 ? usedBytes : 0);
      }
      return { packsRemoved, packsRewritten, chunksRemoved, bytesFreed };
    } finally {
      lock.release();
    }
  }

  async close(): Promise<void> {
    await this.ready.catch(() => undefined);
    await this.packs.close();
    await this.pool.close();
  }
}


// ------------------------------------------------------------------------------------- init, open

/**
 * Creates a repository. Compression: LZ4 unless `compression` says zstd; a `compressionLevel` is
 * zstd's (and alone means zstd), LZ4 takes none. Returns what the new repository compresses with.
 */
export async function initRepository(opts: { path: string; encrypt?: boolean; keyFile?: string; compression?: string; compressionLevel?: number }): Promise<Compression> {
  const dir = path.resolve(opts.path);
  const codec = opts.compression ?? (opts.compressionLevel === undefined ? DEFAULT_COMPRESSION.codec : 'zstd');
  if (codec !== 'lz4' && codec !== 'zstd') throw new RepositoryError('VALIDATION', `the compression must be lz4 or zstd (got ${codec})`);
  if (codec === 'lz4' && opts.compressionLevel !== undefined) throw new RepositoryError('VALIDATION', 'LZ4 takes no compression level: give --compression zstd with a level, or no level');
  const level = opts.compressionLevel ?? DEFAULT_ZSTD_LEVEL;
  if (codec === 'zstd' && !isZstdLevel(level)) throw new RepositoryError('VALIDATION', `the compression level must be a whole number from ${MIN_ZSTD_LEVEL} to -1 or 1 to ${MAX_ZSTD_LEVEL} (got ${opts.compressionLevel})`);
  const compression: Compression = codec === 'lz4' ? { codec: 'lz4' } : { codec: 'zstd', level };
  if (fs.existsSync(dir)) {
    const st = fs.statSync(dir);
    if (!st.isDirectory()) throw new RepositoryError('VALIDATION', `${dir} exists and is not a directory`);
    if (fs.readdirSync(dir).length > 0) throw new RepositoryError('CONFLICT', `${dir} is not empty; a repository is created in an empty or new directory`);
  }
  if (opts.encrypt && !opts.keyFile) throw new RepositoryError('VALIDATION', '--encrypt needs --key-file');
  let encryption: RepoConfig['encryption'] = null;
  if (opts.encrypt) {
    const keys = deriveKeys(loadKeyFile(path.resolve(opts.keyFile!), true));
    encryption = { kind: 'aes-256-gcm', keyCheck: keys.check, idKey: 'hmac-sha256' };
  }
  fs.mkdirSync(dir, { recursive: true });
  for (const sub of ['packs', 'points', 'locks']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  const config: RepoConfig = { format: FORMAT_VERSION, id: randomUUID(), createdAt: new Date().toISOString(), chunker: { kind: 'gear-cdc-v1', min: MIN_CHUNK, max: MAX_CHUNK, maskBits: MASK_BITS, segment: SEGMENT }, encryption, compression };
  await writeFileAtomic(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  return compression;
}

export function readRepoConfig(dir: string): RepoConfig {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(dir)) throw new RepositoryError('NOT_FOUND', `no repository at ${dir} (create one with: quiesce repo init --path ${dir})`);
  if (!fs.existsSync(file)) throw new RepositoryError('NOT_FOUND', `${dir} is not a Quiesce repository (no config.json)`);
  try {
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as RepoConfig;
    if (c.format !== FORMAT_VERSION) throw new Error(`format ${c.format}`);
    const ch = c.chunker;
    // The zero grid (max) and the segments are fixed; the minimum and the mask are per repository.
    if (ch?.kind !== 'gear-cdc-v1' || ch.max !== MAX_CHUNK || ch.segment !== SEGMENT || !Number.isInteger(ch.min) || ch.min < 64 || ch.min >= MAX_CHUNK || !(ch.maskBits >= 1 && ch.maskBits <= 14))
      throw new Error(`chunker ${JSON.stringify(ch)} is not supported by this version`);
    const z = c.compression;
    if (z !== undefined && !((z.codec === 'zstd' && isZstdLevel(z.level)) || (z.codec === 'lz4' && Object.keys(z).length === 1))) throw new Error(`compression ${JSON.stringify(z)} is not supported by this version`);
    return c;
  } catch (e) {
    throw new RepositoryError('INTERNAL', `the repository configuration ${file} is unreadable: ${(e as Error).message}`);
  }
}

export async function openRepository(opts: { path: string; keyFile?: string | null; workers?: number; engine?: 'native' | 'workers' }): Promise<FilesystemRepository> {
  const dir = path.resolve(opts.path);
  const config = readRepoConfig(dir);
  let keys: RepoKeys | null = null;
  if (config.encryption) {
    if (!opts.keyFile) throw new RepositoryError('VALIDATION', `the repository at ${dir} is encrypted: give its --key-file`);
    keys = deriveKeys(loadKeyFile(path.resolve(opts.keyFile), false));
    checkKey(keys, config.encryption.keyCheck, opts.keyFile);
  }
  const repo = new FilesystemRepository(dir, config, keys, { ...(opts.workers ? { workers: opts.workers } : {}), ...(opts.engine ? { engine: opts.engine } : {}) });
  return repo;
}
