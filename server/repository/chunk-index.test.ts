import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkIndex } from './chunk-index';

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
