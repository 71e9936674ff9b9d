/**
 * Where a parent restore point cut a disk, answered from its manifest table as it is: the table's
 * entries and where each starts. A data entry is one chunk; a zero run is cut on the absolute
 * MAX_CHUNK grid (chunking cut it so), so a grid point inside a zero run is a cut too. Nothing is
 * made per chunk: an incremental asks about a few hundred places and copies whole runs of entries
 * between its windows (expanding a 1 GiB disk's ~25 K entries into per-chunk arrays, and copying
 * them back chunk by chunk, was most of the main thread's work in an incremental).
 */
import { MAX_CHUNK } from './chunker.mjs';
import { ENTRY_BYTES, type DiskTable, type DiskTableBuilder } from './disk-table';

export class ParentCuts {
  /** Entry k starts at starts[k]; starts[n] is the disk's size. */
  readonly starts: Float64Array;

  constructor(readonly table: DiskTable) {
    this.starts = table.entryStarts;
  }

  get size(): number {
    return this.starts[this.table.n]!;
  }

  /** The entry that holds byte x (0 ≤ x < size): a binary search. */
  entryAt(x: number): number {
    const s = this.starts;
    let lo = 0;
    let hi = this.table.n;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (s[mid]! <= x) lo = mid;
      else hi = mid;
    }
    return lo;
  }

  private isZeros(k: number): boolean {
    return this.table.bytes[k * ENTRY_BYTES + 4] !== 1;
  }

  /** The last cut at or before x (< size). */
  atOrBefore(x: number): number {
    const k = this.entryAt(x);
    const start = this.starts[k]!;
    return this.isZeros(k) ? Math.max(start, Math.floor(x / MAX_CHUNK) * MAX_CHUNK) : start;
  }

  /** The first cut at or after x; the disk's end when none is. */
  atOrAfter(x: number): number {
    if (x >= this.size) return this.size;
    const k = this.entryAt(x);
    const start = this.starts[k]!;
    const end = this.starts[k + 1]!;
    if (x === start) return x;
    return this.isZeros(k) ? Math.min(end, Math.ceil(x / MAX_CHUNK) * MAX_CHUNK) : end;
  }

  /** Whether x is a cut, or the disk's end. */
  isCut(x: number): boolean {
    return x === this.size || (x >= 0 && x < this.size && this.atOrBefore(x) === x);
  }

  /** The cuts in (from, end], relative to from. */
  between(from: number, end: number): number[] {
    const out: number[] = [];
    if (from >= this.size) return out;
    const s = this.starts;
    const n = this.table.n;
    for (let k = this.entryAt(from); k < n && s[k]! <= end; k++) {
      if (s[k]! > from) out.push(s[k]! - from);
      if (!this.isZeros(k)) continue;
      // Grid points inside the run (its own start is pushed above).
      const last = Math.min(end, s[k + 1]! - 1);
      for (let g = (Math.floor(Math.max(from, s[k]!) / MAX_CHUNK) + 1) * MAX_CHUNK; g <= last; g += MAX_CHUNK) out.push(g - from);
    }
    return out;
  }

  /** The parent's chunks in [a, b) (both cuts, or b the end) onto `out`: runs of whole entries in one copy. */
  copyTo(out: DiskTableBuilder, a: number, b: number): void {
    if (a >= b) return;
    let k = this.entryAt(a);
    const s = this.starts;
    if (a > s[k]!) {
      // Inside a zero run (a grid point): its rest, as zeros.
      const end = Math.min(b, s[k + 1]!);
      out.zeros(end - a);
      a = end;
      k++;
      if (a >= b) return;
    }
    const last = b >= this.size ? this.table.n : this.entryAt(b);
    out.copy(this.table, k, last, s[last]! - s[k]!);
    // b inside a zero run: its first part.
    if (last < this.table.n && b > s[last]!) out.zeros(b - s[last]!);
  }
}
