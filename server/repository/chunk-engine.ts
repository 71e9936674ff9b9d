/**
 * The chunk engine: what names a backup's bytes and seals its new chunks. The native engine
 * (native/backup-engine.c: threads of its own, SHA-256 16 chunks at a time, libzstd) when the addon
 * and libzstd are there; the worker threads (chunk-worker.mjs) otherwise, or when
 * QUIESCE_CHUNK_ENGINE=workers. Both cut, name and seal the same way: a repository written by one
 * is read and continued by the other.
 */
import type { BlobSlabs, BufferPool } from './buffers';
import type { SealCodec } from './format';
import type { RepoKeys } from './keys';
import { NativeChunkEngine, nativeEngineAvailable } from './native-engine';
import { WorkerChunkEngine } from './worker-engine';
import type { WorkerPool } from './worker-pool';

/**
 * A batch's bytes: read by the engine from a descriptor (`reads` are [file position, buffer
 * offset, length] triples; `mappable`: the reads are long enough in all and lie within the file,
 * so they may be mapped instead of copied), or a buffer the caller read (given back to the repository's buffer pool when the
 * engine is done with it).
 */
export type BatchBytes = { fd: number; reads: number[]; len: number; mappable: boolean } | { buf: ArrayBuffer; len: number };

/**
 * How a part of a batch is cut: content-defined ('cdc': stops at the first cut at or after
 * `resyncAfter` that falls on one of `bounds`, the parent's boundaries relative to the part;
 * Infinity cuts it all), at the parent's own cuts ('keep': `bounds`), or at the given lengths
 * ('given': `bounds` are the lengths).
 */
export interface NamePart {
  at: number;
  length: number;
  base: number;
  final: boolean;
  mode: 'cdc' | 'keep' | 'given';
  bounds: number[];
  resyncAfter: number;
}

/** A named batch: its chunks in order (per part: `partCounts`), 32 bytes of id each (none for zero chunks). */
export interface NameResult {
  /** The bytes, kept for `seal` or `drop` (null when they were not to be kept). */
  seg: SegmentHandle | null;
  lengths: ArrayLike<number>;
  partCounts: ArrayLike<number>;
  /** Per part: 1 when a 'cdc' part found the parent's cuts again (or ended at a real end). */
  resynced: ArrayLike<number | boolean>;
  ids: Buffer;
  zero: Uint8Array;
}

/** Pack records of a segment's new chunks: in the slab given, or (too big for it) in `blob`. */
export interface SealResult {
  codecs: Uint8Array;
  storedLen: Uint32Array;
  /** Where each record's payload starts among the records. */
  at: Float64Array;
  blob: Buffer | null;
  blobLen: number;
}

declare const segment: unique symbol;
/** Bytes an engine holds between naming and sealing. */
export interface SegmentHandle {
  readonly [segment]: true;
}

export interface ChunkEngine {
  readonly kind: 'native' | 'workers';
  /** How many batches it works on at once. */
  readonly lanes: number;
  name(bytes: BatchBytes, parts: NamePart[], keep: boolean): Promise<NameResult>;
  /** Seals the chunks `indices` of a named segment into `slab` (null: a blob of its own), and lets its bytes go. */
  seal(seg: SegmentHandle, indices: number[], slab: number | null): Promise<SealResult>;
  /** Lets a named segment's bytes go (nothing of it was new). */
  drop(seg: SegmentHandle): Promise<void>;
}

/** What an engine needs to know of its repository. */
export interface EngineConfig {
  cut: { min: number; mask: number };
  keys: RepoKeys | null;
  seal: SealCodec;
}

/**
 * The engine a repository uses: native when it can run here (unless `prefer` or
 * QUIESCE_CHUNK_ENGINE says 'workers'), else the worker threads.
 */
export function createChunkEngine(o: { prefer?: 'native' | 'workers' | undefined; pool: WorkerPool; slabs: BlobSlabs; readSlabs: BlobSlabs; readSlabBytes: number; buffers: BufferPool; config: EngineConfig }): ChunkEngine {
  const prefer = o.prefer ?? (process.env.QUIESCE_CHUNK_ENGINE === 'workers' ? 'workers' : 'native');
  if (prefer === 'native' && nativeEngineAvailable(o.config.seal.codec)) return new NativeChunkEngine(o.pool.size, o.config, o.slabs, o.buffers);
  return new WorkerChunkEngine(o.pool, o.readSlabs, o.readSlabBytes, o.buffers);
}
