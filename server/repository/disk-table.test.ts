import { describe, expect, it } from 'vitest';
import { DiskTableBuilder, ENTRY_BYTES, MAX_ZERO_RUN, tableOf } from './disk-table';

const id = (b: number) => Buffer.alloc(32, b);
const rows = (t: ReturnType<DiskTableBuilder['finish']>) => t.entries().map((e) => [e.length, e.id ? e.id[0] : null]);

describe('disk tables', () => {
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
});
