// Memory a repository reuses across backups and restores: pooled read buffers and shared slabs.
import { SEGMENT } from './chunker.mjs';
import { native } from './native.mjs';

/**
 * Buffers the chunk engine hands back once it has sealed or dropped their bytes, read into again:
 * power-of-two size classes from 64 KiB to a segment, at most `maxBytes` kept. Reads fill a prefix;
 * the engine is told the length.
 */
export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private kept = 0;
  constructor(private readonly maxBytes: number) {}
  static classOf(length: number): number {
    let c = 64 << 10;
    while (c < length) c *= 2;
    return c;
  }
  take(length: number): ArrayBuffer {
    const c = BufferPool.classOf(length);
    const ab = this.free.get(c)?.pop();
    if (ab) {
      this.kept -= c;
      return ab;
    }
    return new ArrayBuffer(c);
  }
  give(ab: ArrayBuffer | null | undefined): void {
    if (!ab || ab.byteLength !== BufferPool.classOf(ab.byteLength) || ab.byteLength > SEGMENT || this.kept + ab.byteLength > this.maxBytes) return;
    const list = this.free.get(ab.byteLength) ?? [];
    list.push(ab);
    this.free.set(ab.byteLength, list);
    this.kept += ab.byteLength;
  }
}

/** A record blob slab holds the records of one segment (8 MiB of chunks at their largest). */
export const SLAB_BYTES = SEGMENT + (SEGMENT >> 6) + (1 << 20);

/**
 * Shared slabs of memory: the chunk engine seals a segment's new chunks into slab i (the workers
 * got every slab once, when they started), the pack writer writes them from there, then the slab is
 * free. Taking one waits for a free slab.
 */
export class BlobSlabs {
  readonly all: SharedArrayBuffer[];
  private readonly free: number[];
  private readonly waiting: Array<(i: number) => void> = [];
  constructor(count: number, bytes: number) {
    this.all = Array.from({ length: count }, () => new SharedArrayBuffer(bytes));
    // In huge pages from their first 2 MiB boundary on (see takeOnHugePages): a slab's first use
    // faults in a few huge pages instead of a page per 4 KiB (~6 K faults in an 8-disk incremental).
    for (const s of this.all) native?.hugePages(new Uint8Array(s));
    this.free = this.all.map((_, i) => i);
  }
  take(): Promise<number> {
    const i = this.free.pop();
    return i !== undefined ? Promise.resolve(i) : new Promise((r) => this.waiting.push(r));
  }
  /** A free slab now, or null. */
  tryTake(): number | null {
    return this.free.pop() ?? null;
  }
  release(i: number): void {
    const next = this.waiting.shift();
    if (next) next(i);
    else this.free.push(i);
  }
  view(i: number, length: number): Buffer {
    return Buffer.from(this.all[i]!, 0, length);
  }
}

