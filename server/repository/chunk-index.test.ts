import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkIndex } from './chunk-index';
import { encodeIdx } from './pack-store';
import { tableOf } from './disk-table';

const id = (i: number) => createHash('sha256').update(String(i)).digest();

describe('ChunkIndex', () => {
  it('stores, finds, marks pending, deletes and survives growth and compaction', () => {
    const ix = new ChunkIndex();
    for (let i = 0; i < 20_000; i++) ix.set(id(i), i % 7 === 0 ? null : { pack: `p${i % 13}`, offset: i * 10, storedLen: i, rawLen: i + 1, codec: i % 2 });
    expect(ix.size).toBe(20_000);
    expect(ix.get(id(15))).toEqual({ pack: 'p2', offset: 150, storedLen: 15, rawLen: 16, codec: 1 });
    expect(ix.has(id(14))).toBe(true);
    expect(ix.isPending(id(14))).toBe(true);
    expect(ix.get(id(14))).toBeUndefined();
    ix.set(id(14), { pack: 'px', offset: 1, storedLen: 2, rawLen: 3, codec: 0 });
    expect(ix.get(id(14))?.pack).toBe('px');
    expect(ix.has(id(20_001))).toBe(false);
    for (let i = 0; i < 18_000; i++) ix.delete(id(i));
    expect(ix.size).toBe(2_000);
    expect(ix.has(id(100))).toBe(false);
    expect(ix.get(id(19_998))).toMatchObject({ offset: 199_980 });
    expect([...ix.entries()].length).toBe(2_000 - [...Array(2000).keys()].filter((k) => (18_000 + k) % 7 === 0).length);
  });
});

describe('ChunkIndex.loadIdx', () => {
  it('loads pack index files natively exactly as in JavaScript: a later pack takes over a known chunk, deleted ones come back', () => {
    const entry = (i: number, pack: number) => ({ id: id(i), offset: 2 ** 33 + i * 100 + pack, storedLen: i + pack, rawLen: 2 * i, codec: (i + pack) % 2 });
    // Three packs that overlap (a chunk in two packs: the later one wins); big enough to grow the table.
    const packs = [0, 1, 2].map((p) => encodeIdx(Array.from({ length: 6000 }, (_, k) => entry(k * 2 + p * 5000, p))));
    const load = (js: boolean) => {
      const ix = new ChunkIndex();
      packs.forEach((b, p) => {
        ix.loadIdx(b, `pack${p}`, `pack${p}.idx`, js);
        if (p === 0) for (let k = 0; k < 3000; k++) ix.delete(id(k * 4));
      });
      return ix;
    };
    const viaJs = load(true);
    const viaNative = load(false);
    const rows = (ix: ChunkIndex) => [...ix.entries()].map((e) => [e.id.toString('hex'), e.loc]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(viaNative.size).toBe(viaJs.size);
    expect(rows(viaNative)).toEqual(rows(viaJs));
    // A chunk of packs 0 and 1 is in pack 1; one deleted after pack 0 and in pack 2 is back.
    expect(viaNative.get(id(5000))).toEqual({ pack: 'pack1', ...entry(5000, 1), id: undefined });
    expect(viaNative.get(id(10_000))?.pack).toBe('pack2');
    expect(viaNative.has(id(4))).toBe(false);
    expect(viaNative.get(id(2 ** 20))).toBeUndefined();
  });
});

describe('ChunkIndex.claim', () => {
  it('claims a batch natively exactly as in JavaScript: absent ids pending, a repeat within the batch is pending, zeros skipped', () => {
    const build = () => {
      const ix = new ChunkIndex();
      for (let i = 0; i < 5000; i++) ix.set(id(i), i % 3 === 0 ? null : { pack: 'p', offset: i, storedLen: 1, rawLen: 1, codec: 0 });
      return ix;
    };
    // 4000 chunks: known durable, known pending, new (some twice), and zero ones (no id).
    const n = 4000;
    const ids = Buffer.alloc(n * 32);
    const zero = new Uint8Array(n);
    for (let k = 0; k < n; k++) {
      if (k % 11 === 0) zero[k] = 1;
      else id(k % 7 === 0 ? 100_000 + (k % 50) : k * 3 + (k % 2) * 10_000).copy(ids, k * 32);
    }
    const viaJs = build();
    const viaNative = build();
    const a = viaJs.claim(ids, zero, 10, n, true);
    const b = viaNative.claim(ids, zero, 10, n);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(new Set(a)).toEqual(new Set([0, 1, 2]));
    expect(viaNative.size).toBe(viaJs.size);
    // A commit's check: the first chunk counted on that is not durable (claimed ones are pending).
    const picks = Uint32Array.from(Array.from({ length: n - 10 }, (_, i) => i + 10).filter((k) => !zero[k] && a[k - 10] === 0));
    expect([viaNative.firstNotDurable(ids, picks), viaJs.firstNotDurable(ids, picks, true)]).toEqual([-1, -1]);
    const withClaimed = Uint32Array.from([...picks.subarray(0, 50), a.indexOf(1) + 10, ...picks.subarray(50)]);
    expect([viaNative.firstNotDurable(ids, withClaimed), viaJs.firstNotDurable(ids, withClaimed, true)]).toEqual([a.indexOf(1) + 10, a.indexOf(1) + 10]);
    // Claimed ones are pending in both; zeros claimed nothing.
    for (let k = 10; k < n; k++) {
      const x = ids.subarray(k * 32, k * 32 + 32);
      if (zero[k]) expect(a[k - 10]).toBe(0);
      else expect([viaNative.isPending(x), viaNative.has(x)]).toEqual([viaJs.isPending(x), true]);
    }
  });
});

describe('ChunkIndex.locate', () => {
  it('finds where every chunk of a table is, natively exactly as in JavaScript; zeros have no pack; the first missing or pending chunk is named', () => {
    const ix = new ChunkIndex();
    for (let i = 0; i < 3000; i++) ix.set(id(i), { pack: `p${i % 5}`, offset: 2 ** 33 + i, storedLen: i, rawLen: 4096 + i, codec: i % 2 });
    ix.set(id(5000), null);
    const entries = Array.from({ length: 2000 }, (_, k) => (k % 9 === 4 ? { length: 65536, id: null } : { length: 4096 + k, id: id(k) }));
    const check = (t: ReturnType<typeof tableOf>, missing: number) => {
      const [a, b] = [ix.locate(t), ix.locate(t, true)];
      expect([a.missing, b.missing]).toEqual([missing, missing]);
      for (const col of ['packNo', 'offset', 'storedLen', 'rawLen', 'codec'] as const) expect(Array.from(a[col])).toEqual(Array.from(b[col]));
      return a;
    };
    const a = check(tableOf(entries), -1);
    expect([ix.packName(a.packNo[3]!), a.offset[3], a.rawLen[3], a.codec[3]]).toEqual(['p3', 2 ** 33 + 3, 4099, 1]);
    expect(a.packNo[4]).toBe(0xffffffff);
    // An absent chunk, then a pending one: the first of them is named.
    check(tableOf([...entries.slice(0, 10), { length: 1, id: id(9999) }, { length: 1, id: id(5000) }]), 10);
    check(tableOf([...entries.slice(0, 10), { length: 1, id: id(5000) }]), 10);
  });
});
