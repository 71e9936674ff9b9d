import { randomUUID } from 'node:crypto';
import type { BatchBytes, ChunkEngine, NamePart, NameResult, SealResult, SegmentHandle } from './chunk-engine';
import type { BlobSlabs, BufferPool } from './buffers';
import type { WorkerPool } from './worker-pool';

interface WorkerSegment {
  worker: number;
  seg: string;
  /** The read slab the worker read the bytes into (free again once they are sealed or dropped). */
  readSlab: number | null;
}

/**
 * The backup's hashing and sealing in the repository's worker threads (chunk-worker.mjs): the
 * path when the native engine is not available. A segment stays with the worker that named it.
 */
export class WorkerChunkEngine implements ChunkEngine {
  readonly kind = 'workers' as const;

  constructor(
    private readonly pool: WorkerPool,
    private readonly readSlabs: BlobSlabs,
    private readonly readSlabBytes: number,
    private readonly buffers: BufferPool,
  ) {}

  get lanes(): number {
    return this.pool.size;
  }

  async name(bytes: BatchBytes, parts: NamePart[], keep: boolean): Promise<NameResult> {
    const worker = this.pool.pick();
    const seg = randomUUID();
    // A small batch from a descriptor is read into a shared read slab (one pool for every worker).
    const readSlab = 'fd' in bytes && bytes.len <= this.readSlabBytes ? this.readSlabs.tryTake() : null;
    const msg = 'fd' in bytes ? { fd: bytes.fd, reads: bytes.reads, len: bytes.len, mappable: bytes.mappable, readSlab } : { buf: bytes.buf, len: bytes.len };
    let h: { lengths: number[]; partCounts: number[]; resynced: boolean[]; ids: ArrayBuffer; zero: ArrayBuffer; buf?: ArrayBuffer | null };
    try {
      h = await this.pool.call(worker, { op: 'name', seg, keep, parts, ...msg }, 'buf' in bytes ? [bytes.buf] : []);
    } catch (e) {
      if (readSlab !== null) this.readSlabs.release(readSlab);
      throw e;
    }
    if (!keep) {
      this.buffers.give(h.buf);
      if (readSlab !== null) this.readSlabs.release(readSlab);
    }
    const handle: WorkerSegment | null = keep ? { worker, seg, readSlab } : null;
    return { seg: handle as unknown as SegmentHandle | null, lengths: h.lengths, partCounts: h.partCounts, resynced: h.resynced, ids: Buffer.from(h.ids), zero: new Uint8Array(h.zero) };
  }

  async seal(handle: SegmentHandle, indices: number[], slab: number | null): Promise<SealResult> {
    const s = handle as unknown as WorkerSegment;
    try {
      const r = await this.pool.call<{ codecs: Uint8Array; storedLen: Uint32Array; at: Float64Array; blob: ArrayBuffer | null; blobLen: number; buf: ArrayBuffer | null }>(s.worker, { op: 'seal', seg: s.seg, indices, slab });
      this.buffers.give(r.buf);
      return { codecs: r.codecs, storedLen: r.storedLen, at: r.at, blob: r.blob ? Buffer.from(r.blob, 0, r.blobLen) : null, blobLen: r.blobLen };
    } finally {
      if (s.readSlab !== null) this.readSlabs.release(s.readSlab);
    }
  }

  async drop(handle: SegmentHandle): Promise<void> {
    const s = handle as unknown as WorkerSegment;
    try {
      const r = await this.pool.call<{ buf: ArrayBuffer | null }>(s.worker, { op: 'drop', seg: s.seg });
      this.buffers.give(r.buf);
    } finally {
      if (s.readSlab !== null) this.readSlabs.release(s.readSlab);
    }
  }
}
