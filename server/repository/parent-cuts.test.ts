import { describe, expect, it } from 'vitest';
import { MAX_CHUNK } from './chunker.mjs';
import { DiskTableBuilder, MAX_ZERO_RUN, type DiskTable } from './disk-table';
import { ParentCuts } from './parent-cuts';

/** A deterministic generator (xorshift), so a failure is reproducible. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

/** A table the way backups build them: data chunks of 8–64 KiB and zero runs on the 64 KiB grid, some longer than one entry holds. */
function randomTable(seed: number): DiskTable {
  const r = rng(seed);
  const b = new DiskTableBuilder();
  const id = Buffer.alloc(32);
  let pos = 0;
  for (let i = 0; i < 400; i++) {
    if (r(5) === 0) {
      // Zeros run from where we are to a grid point some way on (at most one long run per table).
      const huge = i === 200 && seed % 2 === 0;
      const end = (Math.floor(pos / MAX_CHUNK) + 1 + (huge ? MAX_ZERO_RUN / MAX_CHUNK + 3 : r(40))) * MAX_CHUNK;
      b.zeros(end - pos);
      pos = end;
    } else {
      const len = 8192 + r(65536 - 8192);
      id.writeUInt32LE(seed * 1000 + i);
      b.chunk(len, id, 0);
      pos += len;
    }
  }
  return b.finish();
}

/** The reference: every chunk start, zero runs split on the grid (as chunking cut them). */
function chunkStarts(t: DiskTable): { start: number[]; entry: number[] } {
  const start: number[] = [];
  const entry: number[] = [];
  let pos = 0;
  for (let k = 0; k < t.n; k++) {
    const end = pos + t.length(k);
    if (t.hasId(k)) {
      start.push(pos);
      entry.push(k);
    } else
      for (let c = pos; c < end; c = Math.min(end, (Math.floor(c / MAX_CHUNK) + 1) * MAX_CHUNK)) {
        start.push(c);
        entry.push(-1);
      }
    pos = end;
  }
  return { start, entry };
}

/** The reference splice: the parent's chunks in [a, b) one by one (zeros merge in the builder). */
function copyChunks(out: DiskTableBuilder, t: DiskTable, ref: { start: number[]; entry: number[] }, a: number, b: number): void {
  for (let i = 0; i < ref.start.length; i++) {
    const s = ref.start[i]!;
    const e = i + 1 < ref.start.length ? ref.start[i + 1]! : t.sizeBytes;
    if (s < a || s >= b) continue;
    if (ref.entry[i]! < 0) out.zeros(e - s);
    else out.copy(t, ref.entry[i]!, ref.entry[i]! + 1);
  }
}

describe('ParentCuts', () => {
  it('answers every question a per-chunk expansion of the table answers, and splices the same table', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const t = randomTable(seed);
      const cuts = new ParentCuts(t);
      const ref = chunkStarts(t);
      const size = t.sizeBytes;
      expect(cuts.size).toBe(size);
      const r = rng(seed + 99);
      const isStart = new Set(ref.start);
      /** The last start at or before x, the first at or after it (a search over the reference). */
      const at = (x: number) => {
        let lo = 0;
        let hi = ref.start.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (ref.start[mid]! <= x) lo = mid + 1;
          else hi = mid;
        }
        const before = ref.start[lo - 1]!;
        return { before, after: before === x ? x : lo < ref.start.length ? ref.start[lo]! : size };
      };
      // Interesting points: cuts (all of a small table, a sample of one with a huge zero run), their neighbours, random ones.
      const some = ref.start.length < 3000 ? ref.start : Array.from({ length: 3000 }, () => ref.start[r(ref.start.length)]!);
      const points = [...some.flatMap((s) => [s, s + 1, s - 1]), ...Array.from({ length: 300 }, () => r(size))].filter((x) => x >= 0 && x < size);
      for (const x of points) {
        const want = at(x);
        expect([x, cuts.atOrBefore(x), cuts.atOrAfter(x), cuts.isCut(x)]).toEqual([x, want.before, want.after, isStart.has(x)]);
      }
      expect(cuts.atOrAfter(size)).toBe(size);
      expect(cuts.isCut(size)).toBe(true);
      for (let i = 0; i < 100; i++) {
        const from = ref.start[r(ref.start.length)]!;
        const end = Math.min(size, from + r(3 << 20));
        expect(cuts.between(from, end)).toEqual(ref.start.filter((s) => s > from && s <= end).map((s) => s - from));
      }
      // Splice: the parent's chunks between random windows (at cuts), new zeros and chunks inside them.
      for (let round = 0; round < 20; round++) {
        const marks = [...new Set(Array.from({ length: 2 + r(20) }, () => ref.start[r(ref.start.length)]!))].sort((a, b) => a - b);
        const viaCuts = new DiskTableBuilder();
        const viaChunks = new DiskTableBuilder();
        let pos = 0;
        for (let w = 0; w + 1 < marks.length; w += 2) {
          const [a, b] = [marks[w]!, marks[w + 1]!];
          cuts.copyTo(viaCuts, pos, a);
          copyChunks(viaChunks, t, ref, pos, a);
          // The window: zeros (they merge with the parent's) and a chunk, as many bytes as it spans.
          for (const out of [viaCuts, viaChunks]) {
            const z = Math.floor((b - a) / 2);
            out.zeros(z);
            if (b - a - z > 0) out.chunk(b - a - z, Buffer.alloc(32, w), 0);
          }
          pos = b;
        }
        cuts.copyTo(viaCuts, pos, size);
        copyChunks(viaChunks, t, ref, pos, size);
        const [x, y] = [viaCuts.finish(), viaChunks.finish()];
        expect([x.sizeBytes, x.n]).toEqual([size, y.n]);
        expect(x.bytes.equals(y.bytes)).toBe(true);
      }
    }
  });
});
