/**
 * A disk's entry table in a restore point, kept as the manifest stores it: `n` entries of
 * ENTRY_BYTES ([length u32][kind u8][id 32 B]; kind 0 = zeros, no id; 1 = a chunk), read in place.
 * A 1 GiB disk has ~25 K entries: one object per entry (and a view per id) was tens of megabytes
 * of heap per backup, promoted and collected while the workers waited for the next window.
 */
import type { DiskEntry } from './format';

/** Manifest entry: [length u32][kind u8][id 32 B]; kind 0 = zeros (no id stored), 1 = chunk. */
export const ENTRY_BYTES = 4 + 1 + 32;
const ID_BYTES = ENTRY_BYTES - 5;

/** Longest zero run one entry holds (lengths are u32; a multiple of 64 KiB, the zero grid's step). */
export const MAX_ZERO_RUN = 0xffff0000;

export class DiskTable {
  constructor(
    /** n × ENTRY_BYTES, exactly. */
    readonly bytes: Buffer,
    readonly n: number,
    /** The entries' lengths added up (what the manifest's header checks, what a builder counted). */
    readonly sizeBytes: number,
  ) {}

  length(k: number): number {
    return this.bytes.readUInt32LE(k * ENTRY_BYTES);
  }

  hasId(k: number): boolean {
    return this.bytes[k * ENTRY_BYTES + 4] === 1;
  }

  /** Where entry k's id starts in `bytes` (meaningful when it has one). */
  idAt(k: number): number {
    return k * ENTRY_BYTES + 5;
  }

  /** A view of entry k's id, or null for zeros. */
  id(k: number): Buffer | null {
    return this.hasId(k) ? this.bytes.subarray(this.idAt(k), this.idAt(k) + ID_BYTES) : null;
  }

  /** The entries as objects (ids are views of the table): for reports and tests, not for hot loops. */
  entries(): DiskEntry[] {
    return Array.from({ length: this.n }, (_, k) => ({ length: this.length(k), id: this.id(k) }));
  }
}

/**
 * Writes a table entry by entry; consecutive zeros become one run (up to MAX_ZERO_RUN). Grows by
 * doubling: a caller that knows about how many entries come passes that as `capacity`.
 */
export class DiskTableBuilder {
  private buf: Buffer;
  private n = 0;
  private size = 0;
  /** The last entry is a zero run (the next zeros extend it). */
  private zeroTail = false;

  constructor(capacity = 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(16, capacity) * ENTRY_BYTES);
  }

  /** Room for `more` entries after the last one. */
  private ensure(more: number): void {
    const need = (this.n + more) * ENTRY_BYTES;
    if (need <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
    this.buf.copy(next, 0, 0, this.n * ENTRY_BYTES);
    this.buf = next;
  }

  /** Where a new entry goes. */
  private room(): number {
    this.ensure(1);
    return this.n++ * ENTRY_BYTES;
  }

  zeros(length: number): void {
    this.size += length;
    while (length > 0) {
      if (this.zeroTail) {
        const o = (this.n - 1) * ENTRY_BYTES;
        const have = this.buf.readUInt32LE(o);
        const add = Math.min(length, MAX_ZERO_RUN - have);
        if (add > 0) {
          this.buf.writeUInt32LE(have + add, o);
          length -= add;
          continue;
        }
      }
      const o = this.room();
      const len = Math.min(length, MAX_ZERO_RUN);
      this.buf.writeUInt32LE(len, o);
      this.buf.fill(0, o + 4, o + ENTRY_BYTES);
      this.zeroTail = true;
      length -= len;
    }
  }

  /** A chunk whose id is `ids[at, at + 32)`. */
  chunk(length: number, ids: Uint8Array, at: number): void {
    const o = this.room();
    this.size += length;
    this.buf.writeUInt32LE(length, o);
    this.buf[o + 4] = 1;
    this.buf.set(ids.subarray(at, at + ID_BYTES), o + 5);
    this.zeroTail = false;
  }

  /**
   * Entries `from` to `to` of another table, as they are, in one copy (zero runs at its start merge
   * with zeros before them). `bytes`: what the entries cover, when the caller knows it.
   */
  copy(t: DiskTable, from: number, to = from + 1, bytes = -1): void {
    while (from < to && !t.hasId(from)) {
      const len = t.length(from++);
      if (bytes >= 0) bytes -= len;
      this.zeros(len);
    }
    if (from >= to) return;
    this.ensure(to - from);
    if (bytes < 0) {
      bytes = 0;
      for (let k = from; k < to; k++) bytes += t.length(k);
    }
    this.size += bytes;
    t.bytes.copy(this.buf, this.n * ENTRY_BYTES, from * ENTRY_BYTES, to * ENTRY_BYTES);
    this.n += to - from;
    this.zeroTail = !t.hasId(to - 1);
  }

  finish(): DiskTable {
    return new DiskTable(this.buf.subarray(0, this.n * ENTRY_BYTES), this.n, this.size);
  }
}

/** A table of these entries (tests and small tools). */
export function tableOf(entries: DiskEntry[]): DiskTable {
  const b = new DiskTableBuilder(entries.length);
  for (const e of entries) {
    if (e.id) b.chunk(e.length, e.id, 0);
    else b.zeros(e.length);
  }
  return b.finish();
}
