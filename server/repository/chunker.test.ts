import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chunkLengths, GEAR, MASK, MAX_CHUNK, MIN_CHUNK, rechunkLengths } from './chunker.mjs';

function image(): Buffer {
  const b = Buffer.alloc(2 << 20);
  randomBytes(700_000).copy(b, 10_000);
  randomBytes(300_000).copy(b, 1_200_000);
  return b;
}

const starts = (lengths: number[], base = 0) => {
  const out: number[] = [];
  let p = base;
  for (const l of lengths) {
    out.push(p);
    p += l;
  }
  return out;
};

/** The chunker module when its native addon is built, else null (CI builds it at install: there it must be). */
async function withNative() {
  const mod = await import('./chunker.mjs');
  if (!mod.native) expect(process.env.CI).toBeFalsy();
  return mod.native ? mod : null;
}

describe('content-defined chunking', () => {
  it('never cuts inside a run of zeros (the gear table guarantees it)', () => {
    expect(((-GEAR[0]! | 0) & MASK) !== 0).toBe(true);
  });

  it('covers the buffer, respects the bounds and is deterministic', () => {
    const b = image();
    const a = chunkLengths(b, b.length, true, 0) as number[];
    expect(a.reduce((x, y) => x + y, 0)).toBe(b.length);
    expect(Math.max(...a)).toBeLessThanOrEqual(MAX_CHUNK);
    expect(chunkLengths(b, b.length, true, 0)).toEqual(a);
    // data chunks are at least MIN_CHUNK except next to zeros or the end
    const small = a.filter((l) => l < MIN_CHUNK);
    expect(small.length).toBeLessThan(a.length / 10);
  });

  it('cuts zero runs on the absolute MAX_CHUNK grid', () => {
    const b = Buffer.alloc(4 * MAX_CHUNK);
    const base = 3 * MAX_CHUNK + 1000;
    const l = chunkLengths(b, b.length, true, base) as number[];
    expect(starts(l, base).slice(1).every((s) => s % MAX_CHUNK === 0)).toBe(true);
  });

  it('an edit changes only the chunks around it: later cuts fall back on the old ones', () => {
    const b = image();
    const before = starts(chunkLengths(b, b.length, true, 0) as number[]);
    const c = Buffer.from(b);
    randomBytes(5000).copy(c, 300_000);
    const after = starts(chunkLengths(c, c.length, true, 0) as number[]);
    const tailBefore = before.filter((s) => s > 400_000);
    const tailAfter = after.filter((s) => s > 400_000);
    expect(tailAfter).toEqual(tailBefore);
  });

  it('re-chunking a window stops where the cuts resync with the old boundaries', () => {
    const b = image();
    const old = starts(chunkLengths(b, b.length, true, 0) as number[]);
    const c = Buffer.from(b);
    randomBytes(4096).copy(c, 500_000);
    const from = old.filter((s) => s <= 500_000).pop()!;
    const win = c.subarray(from, from + 200_000);
    const r = rechunkLengths(win, win.length, false, old.filter((s) => s > from).map((s) => s - from), 504_096 - from, from) as { lengths: number[]; resynced: boolean };
    expect(r.resynced).toBe(true);
    const end = from + r.lengths.reduce((x, y) => x + y, 0);
    expect(old).toContain(end);
    const full = starts(chunkLengths(c, c.length, true, 0) as number[]);
    expect(full.filter((s) => s >= from && s < end)).toEqual(starts(r.lengths, from));
  });
});

describe('native chunker', () => {
  it('cuts exactly like the JavaScript reference (when it is built)', async () => {
    const mod = await withNative();
    if (!mod) return;
    for (const seed of [1, 2, 3]) {
      const b = image();
      randomBytes(1000).copy(b, seed * 100_000);
      // The defaults, and the 4 KiB / 13-bit cut older repositories keep.
      for (const cut of [{ min: MIN_CHUNK, mask: MASK }, { min: 4096, mask: mod.maskOf(13) }]) {
        for (const [base, final] of [[0, true], [12345, false], [65536 * 3, true]] as const) {
          expect(Array.from(mod.native.chunk(b, b.length, final, base, cut.min, MAX_CHUNK, cut.mask))).toEqual(mod.chunkLengthsJs(b, b.length, final, base, cut));
        }
      }
    }
  });
});

describe('native chunker, sixteen bytes at a time', () => {
  it('cuts exactly where the byte-at-a-time loop does, whatever the mask (AVX-512 where the CPU has it)', async () => {
    const mod = await withNative();
    if (!mod) return;
    const was = mod.native.gearImpl();
    try {
      const b = image();
      randomBytes(300_000).copy(b, 50_000);
      for (const bits of [2, 5, 9, 13, 14]) {
        const cut = { min: bits < 9 ? 100 : 4096, mask: mod.maskOf(bits) };
        const want = mod.chunkLengthsJs(b, b.length, true, 777, cut);
        for (const impl of [0, 1]) {
          mod.native.gearImpl(impl);
          expect([bits, impl, Array.from(mod.native.chunk(b, b.length, true, 777, cut.min, MAX_CHUNK, cut.mask))]).toEqual([bits, impl, want]);
        }
      }
    } finally {
      mod.native.gearImpl(was);
    }
  });
});

describe('native naming', () => {
  it('names every chunk as node:crypto does, right after its cut (chunkNamed) or from given cuts (nameChunks)', async () => {
    const mod = await withNative();
    if (!mod) return;
    const b = image();
    randomBytes(20_000).copy(b, 1_600_000);
    const sha = (x: Buffer) => createHash('sha256').update(x).digest();
    for (const [base, final] of [[0, true], [12345, false]] as const) {
      const lengths = mod.chunkLengthsJs(b, b.length, final, base) as number[];
      const at = starts(lengths);
      const expectedZero = lengths.map((l, i) => (b.subarray(at[i], at[i]! + l).every((x) => x === 0) ? 1 : 0));
      expect(expectedZero.includes(0) && expectedZero.includes(1)).toBe(true);
      const expectedIds = Buffer.concat(lengths.map((l, i) => (expectedZero[i] ? Buffer.alloc(32) : sha(b.subarray(at[i], at[i]! + l)))));
      const named = mod.chunkNamed(b, b.length, final, base)!;
      expect(named.lengths).toEqual(lengths);
      expect(Array.from(named.zero)).toEqual(expectedZero);
      expect(named.ids.equals(expectedIds)).toBe(true);
      const ids = Buffer.alloc(lengths.length * 32);
      const zero = new Uint8Array(lengths.length);
      mod.native.nameChunks(b, Float64Array.from(at), Uint32Array.from(lengths), ids, zero);
      expect(ids.equals(expectedIds)).toBe(true);
      expect(Array.from(zero)).toEqual(expectedZero);
    }
    // hasId: the re-hash restore and verify do.
    const chunk = b.subarray(10_000, 30_000);
    const both = Buffer.concat([Buffer.alloc(32), sha(chunk)]);
    expect(mod.native.hasId(chunk, both, 32)).toBe(true);
    expect(mod.native.hasId(chunk, both, 0)).toBe(false);
    expect(() => mod.native.hasId(chunk, both, 40)).toThrow(/outside/);
    expect(() => mod.native.nameChunks(b, Float64Array.from([b.length - 10]), Uint32Array.from([20]), Buffer.alloc(32), new Uint8Array(1))).toThrow(/outside the buffer/);
  });
});

describe('native sampling', () => {
  it('counts the distinct values of 512 evenly spaced bytes, as the worker did in JavaScript', async () => {
    const mod = await withNative();
    if (!mod) return;
    const reference = (b: Buffer) => {
      const seen = new Set<number>();
      for (let i = 0, step = Math.max(1, Math.floor(b.length / 512)); i < b.length; i += step) seen.add(b[i]!);
      return seen.size;
    };
    for (const b of [randomBytes(65536), randomBytes(5000), Buffer.alloc(20000, 7), Buffer.from('log line 12345 '.repeat(3000))]) expect(mod.native.sampledDistinct(b)).toBe(reference(b));
  });
});

describe('chunks running into free space', () => {
  it('cut on the grid inside the zero tail, so an edit before free space resyncs within a grid step', async () => {
    const { chunkLengthsJs } = await import('./chunker.mjs');
    const b = Buffer.alloc(8 * MAX_CHUNK);
    randomBytes(100_000).copy(b, 50_000);
    const cuts = starts(chunkLengthsJs(b, b.length, true, 0) as number[]);
    // The chunk holding the data's end reaches at most MAX_CHUNK past it; every boundary after that is on the grid.
    const settled = 150_000 + MAX_CHUNK;
    expect(cuts.filter((c) => c > settled)).not.toEqual([]);
    expect(cuts.filter((c) => c > settled).every((c) => c % MAX_CHUNK === 0)).toBe(true);
    const edited = Buffer.from(b);
    randomBytes(3000).copy(edited, 140_000);
    const after = starts(chunkLengthsJs(edited, edited.length, true, 0) as number[]);
    expect(after.filter((c) => c >= settled)).toEqual(cuts.filter((c) => c >= settled));
  });
});
