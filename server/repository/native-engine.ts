import { native } from './native.mjs';
import type { BatchBytes, ChunkEngine, EngineConfig, NamePart, NameResult, SealResult, SegmentHandle } from './chunk-engine';
import type { BlobSlabs, BufferPool } from './buffers';
import { SLAB_BYTES } from './buffers';
import { CODEC_LZ4, CODEC_ZSTD } from './format';

/** A part as the engine takes it: [at, length, base, final, mode, resyncAfter, first bound, bound count]. */
const PART_FIELDS = 8;
const MODES = { cdc: 0, keep: 1, given: 2 } as const;

interface NativeSegment {
  ext: unknown;
  /** The caller's buffer the bytes are in (pinned by the engine until sealed or dropped). */
  buf: ArrayBuffer | null;
}

interface EngineNamed {
  seg?: unknown;
  lengths: Uint32Array;
  partCounts: Uint32Array;
  resynced: Uint8Array;
  ids: Uint8Array;
  zero: Uint8Array;
}

interface NativeEngineApi {
  engineAvailable(codec?: 'zstd' | 'lz4'): boolean;
  engineName(threads: number, src: Uint8Array | null, fd: number, reads: Float64Array, length: number, mappable: boolean, parts: Float64Array, bounds: Float64Array, cutMin: number, cutMask: number, idKey: Uint8Array | null, keep: boolean): Promise<EngineNamed>;
  engineSeal(seg: unknown, indices: Uint32Array, slab: Uint8Array | null, codec: number, level: number, encKey: Uint8Array | null): Promise<SealResult>;
  engineDrop(seg: unknown): void;
}

const api = native as unknown as NativeEngineApi | null;

/**
 * Whether this process can run the native engine (the addon is built and libzstd is there), and
 * seal with `codec` (LZ4 needs liblz4 too).
 */
export function nativeEngineAvailable(codec: number = CODEC_ZSTD): boolean {
  return !!api?.engineAvailable && api.engineAvailable(codec === CODEC_LZ4 ? 'lz4' : 'zstd');
}

/** The backup's hashing and sealing on the addon's own threads (native/backup-engine.c). */
export class NativeChunkEngine implements ChunkEngine {
  readonly kind = 'native' as const;
  private readonly api: NativeEngineApi;

  constructor(
    readonly lanes: number,
    private readonly config: EngineConfig,
    private readonly slabs: BlobSlabs,
    private readonly buffers: BufferPool,
  ) {
    if (!api || !nativeEngineAvailable(config.seal.codec)) throw new Error('the native chunk engine is not available on this machine');
    this.api = api;
  }

  async name(bytes: BatchBytes, parts: NamePart[], keep: boolean): Promise<NameResult> {
    const p = new Float64Array(parts.length * PART_FIELDS);
    let nb = 0;
    for (const x of parts) nb += x.bounds.length;
    const bounds = new Float64Array(nb);
    nb = 0;
    parts.forEach((x, i) => {
      const o = i * PART_FIELDS;
      p[o] = x.at;
      p[o + 1] = x.length;
      p[o + 2] = x.base;
      p[o + 3] = x.final ? 1 : 0;
      p[o + 4] = MODES[x.mode];
      p[o + 5] = x.resyncAfter;
      p[o + 6] = nb;
      p[o + 7] = x.bounds.length;
      bounds.set(x.bounds, nb);
      nb += x.bounds.length;
    });
    const { cut, keys } = this.config;
    const fromFd = 'fd' in bytes;
    const buf = fromFd ? null : bytes.buf;
    let r: EngineNamed;
    try {
      r = await this.api.engineName(this.lanes, buf ? new Uint8Array(buf, 0, bytes.len) : null, fromFd ? bytes.fd : -1, new Float64Array(fromFd ? bytes.reads : []), bytes.len, fromFd && bytes.mappable, p, bounds, cut.min, cut.mask >>> 0, keys?.idKey ?? null, keep);
    } catch (e) {
      this.buffers.give(buf);
      throw e;
    }
    if (!keep) this.buffers.give(buf);
    const seg: NativeSegment | null = r.seg ? { ext: r.seg, buf } : null;
    return { seg: seg as unknown as SegmentHandle | null, lengths: r.lengths, partCounts: r.partCounts, resynced: r.resynced, ids: Buffer.from(r.ids.buffer, r.ids.byteOffset, r.ids.length), zero: r.zero };
  }

  async seal(handle: SegmentHandle, indices: number[], slab: number | null): Promise<SealResult> {
    const seg = handle as unknown as NativeSegment;
    try {
      return await this.api.engineSeal(seg.ext, Uint32Array.from(indices), slab === null ? null : this.slabs.view(slab, SLAB_BYTES), this.config.seal.codec, this.config.seal.level, this.config.keys?.encKey ?? null);
    } catch (e) {
      // Refused before it started (a failed seal has let them go already): the bytes go now.
      this.api.engineDrop(seg.ext);
      throw e;
    } finally {
      // Sealed or failed, the engine has let the bytes go.
      this.buffers.give(seg.buf);
    }
  }

  async drop(handle: SegmentHandle): Promise<void> {
    const seg = handle as unknown as NativeSegment;
    this.api.engineDrop(seg.ext);
    this.buffers.give(seg.buf);
  }
}
