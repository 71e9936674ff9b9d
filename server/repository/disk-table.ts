/**
 * A disk's entry table in a restore point, kept as the manifest stores it: `n` entries of
 * ENTRY_BYTES ([length u32][kind u8][id 32 B]; kind 0 = zeros, no id; 1 = a chunk), read in place.
 * A 1 GiB disk has ~25 K entries: one object per entry (and a view per id) was tens of megabytes
 * of heap per backup, promoted and collected while the workers waited for the next window.
 */
import type { DiskEntry } from './format';
import { native } from './native.mjs';

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
    /** Where each entry starts, when the caller has them already (see scanTable). */
    private starts: Float64Array | null = null,
  ) {}

  /** Where each entry starts on the disk (n + 1 values, the last the disk's size); computed once. */
  get entryStarts(): Float64Array {
    if (!this.starts) {
      const starts = scanTable(this.bytes, this.n);
      if (typeof starts === 'number') throw new Error(`disk table entry ${starts} has an unknown kind`);
      this.starts = starts;
    }
    return this.starts;
  }

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

  /** The table as a manifest writes it: one piece. */
  get pieces(): Buffer[] {
    return [this.bytes];
  }

  /** The entries as objects (ids are views of the table): for reports and tests, not for hot loops. */
  entries(): DiskEntry[] {
    return Array.from({ length: this.n }, (_, k) => ({ length: this.length(k), id: this.id(k) }));
  }
}

/**
 * Where each of `n` entries in `bytes` starts on the disk (the last of the n + 1 is the disk's size),
 * or the index of the first entry of an unknown kind. `js` takes the JavaScript loop even where the
 * addon is there (tests compare the two).
 */
export function scanTable(bytes: Uint8Array, n: number, js = false): Float64Array | number {
  if (native?.tableStarts && !js) return native.tableStarts(bytes, n, ENTRY_BYTES) as Float64Array | number;
  const starts = new Float64Array(n + 1);
  let pos = 0;
  for (let k = 0, e = 0; k < n; k++, e += ENTRY_BYTES) {
    if (bytes[e + 4]! > 1) return k;
    starts[k] = pos;
    pos += (bytes[e]! | (bytes[e + 1]! << 8) | (bytes[e + 2]! << 16)) + bytes[e + 3]! * 2 ** 24;
  }
  starts[n] = pos;
  return starts;
}

/** A disk's table as a manifest writes it: entries that lie in one or several pieces. */
export interface TableOut {
  readonly n: number;
  readonly sizeBytes: number;
  readonly pieces: Buffer[];
}

/** Copied runs of at least this many entries stay in the table they came from (a slice, not a copy). */
const SLICE_MIN = 64;

/**
 * Writes a table entry by entry; consecutive zeros become one run (up to MAX_ZERO_RUN). Long runs
 * copied from another table (an incremental's parent: most of its entries) stay where they are,
 * as slices of it: the table comes out as pieces (`finishPieces`), and a manifest is written from
 * them without the megabyte per disk a copy would fault in. `capacity`: about how many entries
 * this builder writes itself.
 */
export class DiskTableBuilder {
  /** Finished pieces: own segments and slices of other tables, in order. */
  private readonly done: Buffer[] = [];
  private buf: Buffer;
  /** The current own segment is buf[segStart, used). */
  private segStart = 0;
  private used = 0;
  private n = 0;
  private size = 0;
  /** The last entry is a zero run (the next zeros extend it). */
  private zeroTail = false;
  /** The last entry ends a slice of another table (read-only: it is moved here to be extended). */
  private lastInSlice = false;

  constructor(capacity = 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(16, capacity) * ENTRY_BYTES);
  }

  /** Room for `more` entries in the current own segment. */
  private ensure(more: number): void {
    const need = this.used + more * ENTRY_BYTES;
    if (need <= this.buf.length) return;
    // Earlier own segments were handed out as pieces: the new buffer holds the current one only.
    const next = Buffer.allocUnsafe(Math.max(need - this.segStart, this.buf.length * 2));
    this.buf.copy(next, 0, this.segStart, this.used);
    this.used -= this.segStart;
    this.segStart = 0;
    this.buf = next;
  }

  /** Where a new entry goes. */
  private room(): number {
    this.ensure(1);
    const o = this.used;
    this.used += ENTRY_BYTES;
    this.n++;
    this.lastInSlice = false;
    return o;
  }

  zeros(length: number): void {
    this.size += length;
    while (length > 0) {
      if (this.zeroTail) {
        if (this.lastInSlice) this.unslice();
        const o = this.used - ENTRY_BYTES;
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

  /** Moves the last entry out of the slice it ends into the own segment (to be extended there). */
  private unslice(): void {
    const slice = this.done.pop()!;
    const last = slice.subarray(slice.length - ENTRY_BYTES);
    if (slice.length > ENTRY_BYTES) this.done.push(slice.subarray(0, slice.length - ENTRY_BYTES));
    this.ensure(1);
    last.copy(this.buf, this.used);
    this.used += ENTRY_BYTES;
    this.lastInSlice = false;
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
   * Entries `from` to `to` of another table, as they are (zero runs at its start merge with zeros
   * before them): a long run as a slice of that table, which must not change while this builder's
   * pieces are in use. `bytes`: what the entries cover, when the caller knows it.
   */
  copy(t: DiskTable, from: number, to = from + 1, bytes = -1): void {
    while (from < to && !t.hasId(from)) {
      const len = t.length(from++);
      if (bytes >= 0) bytes -= len;
      this.zeros(len);
    }
    if (from >= to) return;
    if (bytes < 0) {
      bytes = 0;
      for (let k = from; k < to; k++) bytes += t.length(k);
    }
    this.size += bytes;
    const slice = t.bytes.subarray(from * ENTRY_BYTES, to * ENTRY_BYTES);
    if (to - from >= SLICE_MIN) {
      if (this.used > this.segStart) this.done.push(this.buf.subarray(this.segStart, this.used));
      this.segStart = this.used;
      this.done.push(slice);
      this.lastInSlice = true;
    } else {
      this.ensure(to - from);
      slice.copy(this.buf, this.used);
      this.used += slice.length;
      this.lastInSlice = false;
    }
    this.n += to - from;
    this.zeroTail = !t.hasId(to - 1);
  }

  /** The table as pieces (slices of the tables copied from stay theirs). */
  finishPieces(): TableOut {
    const pieces = [...this.done];
    if (this.used > this.segStart) pieces.push(this.buf.subarray(this.segStart, this.used));
    return { n: this.n, sizeBytes: this.size, pieces };
  }

  /** The table in one buffer. */
  finish(): DiskTable {
    const { pieces } = this.finishPieces();
    const bytes = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, this.n * ENTRY_BYTES);
    return new DiskTable(bytes, this.n, this.size);
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
