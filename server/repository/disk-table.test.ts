import { describe, expect, it } from 'vitest';
import { DiskTableBuilder, ENTRY_BYTES, MAX_ZERO_RUN, scanTable, tableOf } from './disk-table';
import { native } from './native.mjs';

const id = (b: number) => Buffer.alloc(32, b);
const rows = (t: ReturnType<DiskTableBuilder['finish']>) => t.entries().map((e) => [e.length, e.id ? e.id[0] : null]);

describe('disk tables', () => {
  it('scans a table for where its entries start (addon and JavaScript alike) and finds the first entry of an unknown kind', () => {
    const b = new DiskTableBuilder(1);
    const ids = Buffer.alloc(64, 3);
    // Lengths past 2^24 and 2^31 (zero runs), so every byte of a length counts.
    const lengths = [4096, 0xffff0000, 65536, 1, 0x1234567, 24_000];
    lengths.forEach((l, i) => (i % 2 ? b.zeros(l) : b.chunk(l, ids, 0)));
    const t = b.finish();
    const want = [0];
    for (const l of t.entries().map((e) => e.length)) want.push(want[want.length - 1]! + l);
    expect(want[want.length - 1]).toBe(t.sizeBytes);
    for (const js of [false, true]) expect(Array.from(scanTable(t.bytes, t.n, js) as Float64Array)).toEqual(want);
    expect(Array.from(t.entryStarts)).toEqual(want);
    const bad = Buffer.from(t.bytes);
    bad[3 * ENTRY_BYTES + 4] = 2;
    for (const js of [false, true]) expect(scanTable(bad, t.n, js)).toBe(3);
    if (!native?.tableStarts) expect(process.env.CI).toBeFalsy();
  });

  it('writes entries in the manifest layout and reads them in place', () => {
    const b = new DiskTableBuilder(1);
    const ids = Buffer.concat([id(7), id(9)]);
    b.chunk(4096, ids, 32);
    b.zeros(100);
    b.chunk(10, ids, 0);
    const t = b.finish();
    expect(t.n).toBe(3);
    expect(t.bytes.length).toBe(3 * ENTRY_BYTES);
    expect(rows(t)).toEqual([[4096, 9], [100, null], [10, 7]]);
    expect(t.sizeBytes).toBe(4206);
    expect(t.hasId(1)).toBe(false);
    expect(t.id(1)).toBeNull();
    expect(t.bytes.subarray(t.idAt(2), t.idAt(2) + 32).equals(id(7))).toBe(true);
  });

  it('merges consecutive zeros, across copies too, and grows past its capacity', () => {
    const parent = tableOf([{ length: 5, id: null }, { length: 8, id: id(1) }, { length: 3, id: null }]);
    const b = new DiskTableBuilder(1);
    b.zeros(2);
    b.copy(parent, 0);
    b.copy(parent, 1);
    b.copy(parent, 2);
    b.zeros(4);
    for (let i = 0; i < 100; i++) b.chunk(1, id(i), 0);
    const t = b.finish();
    expect(rows(t).slice(0, 3)).toEqual([[7, null], [8, 1], [7, null]]);
    expect(t.n).toBe(103);
    expect(t.id(102)![0]).toBe(99);
  });

  it('splits zero runs longer than an entry can hold (a sparse disk of many GiB)', () => {
    const b = new DiskTableBuilder();
    b.zeros(3 * MAX_ZERO_RUN);
    b.zeros(MAX_ZERO_RUN + 5);
    const t = b.finish();
    expect(rows(t)).toEqual([[MAX_ZERO_RUN, null], [MAX_ZERO_RUN, null], [MAX_ZERO_RUN, null], [MAX_ZERO_RUN, null], [5, null]]);
    expect(t.sizeBytes).toBe(4 * MAX_ZERO_RUN + 5);
  });

  it('keeps long copied runs as slices of the parent (no copy), extends a zero run a slice ends with, and writes the same table', () => {
    const parentEntries = Array.from({ length: 300 }, (_, i) => (i % 7 === 3 ? { length: 65536 * (1 + (i % 3)), id: null } : { length: 1000 + i, id: id(i % 251) }));
    parentEntries.push({ length: 65536, id: null });
    const parent = tableOf(parentEntries);
    const viaSlices = new DiskTableBuilder(4);
    const viaCopies = new DiskTableBuilder(4);
    for (const b of [viaSlices, viaCopies]) {
      b.chunk(5, id(1), 0);
      // A long run (a slice in viaSlices) that ends in zeros, then zeros that extend it; a short run; the rest.
      if (b === viaSlices) b.copy(parent, 0, 200);
      else for (let k = 0; k < 200; k++) b.copy(parent, k);
      b.zeros(4096);
      if (b === viaSlices) b.copy(parent, 200, 210);
      else for (let k = 200; k < 210; k++) b.copy(parent, k);
      b.chunk(7, id(2), 0);
      if (b === viaSlices) b.copy(parent, 210, parent.n);
      else for (let k = 210; k < parent.n; k++) b.copy(parent, k);
    }
    const out = viaSlices.finishPieces();
    // The long runs are views of the parent's table, not copies.
    expect(out.pieces.filter((p) => p.buffer === parent.bytes.buffer).length).toBe(2);
    const a = viaSlices.finish();
    const b = viaCopies.finish();
    expect([a.n, a.sizeBytes]).toEqual([b.n, b.sizeBytes]);
    expect(a.bytes.equals(b.bytes)).toBe(true);
    expect(Buffer.concat(out.pieces).equals(a.bytes)).toBe(true);
    // The zero run the first slice ended with took the 4096 bytes after it (entry 199 of the parent is zeros).
    expect(parentEntries[199]!.id).toBeNull();
    expect(a.length(200)).toBe(parentEntries[199]!.length + 4096);
  });
});
