import { createHash, createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import lz4 from 'lz4-napi';
import { BlobSlabs, BufferPool } from './buffers';
import { HUGE_PAGE, takeOnHugePages } from './direct-io';
import { native } from './native.mjs';

describe('native mapped reads', () => {
  it('maps a file range read-only with the bytes a read gives; unmapping empties every view at once', async () => {
    if (!native) {
      expect(process.env.CI).toBeFalsy();
      return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-map-'));
    const file = path.join(dir, 'disk.raw');
    const bytes = randomBytes(3 << 20);
    fs.writeFileSync(file, bytes);
    const fd = fs.openSync(file, 'r');
    try {
      const ab: ArrayBuffer = await native.mapRange(fd, 1 << 20, 2 << 20);
      const view = Buffer.from(ab);
      expect(view.equals(bytes.subarray(1 << 20, 3 << 20))).toBe(true);
      const part = view.subarray(100, 200);
      native.unmapRange(ab);
      expect([ab.byteLength, view.length, part.length]).toEqual([0, 0, 0]);
      // Twice is nothing; a buffer that was never mapped is refused.
      native.unmapRange(ab);
      expect(() => native.unmapRange(new ArrayBuffer(8))).toThrow(/not an ArrayBuffer from mapRange/);
      expect(() => native.mapRange(fd, 100, 4096)).toThrow(/multiple of the page size/);
      await expect(native.mapRange(12345, 0, 4096)).rejects.toThrow(/mapping of 4096 bytes at 0 failed/);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('native huge pages', () => {
  /** AnonHugePages (KiB) of this process's mappings the kernel was asked to back with huge pages. */
  const hugeKiB = () =>
    fs
      .readFileSync('/proc/self/smaps', 'utf8')
      .split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)
      .filter((m) => /VmFlags:.* hg/.test(m))
      .reduce((a, m) => a + Number(/AnonHugePages:\s+(\d+)/.exec(m)?.[1] ?? 0), 0);

  it('advises huge pages for a buffer (and a slab) from its first 2 MiB boundary, and its bytes land in them', () => {
    if (!native) {
      expect(process.env.CI).toBeFalsy();
      return;
    }
    const pool = new BufferPool(0);
    const need = 5 << 20;
    const { ab, at } = takeOnHugePages(pool, need);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(at).toBeLessThan(HUGE_PAGE);
    expect(at + need).toBeLessThanOrEqual(ab.byteLength);
    // `at` is where hugePages says the buffer's first huge page starts: 4 KiB-aligned, at least.
    expect(native.hugePages(ab)).toBe(at);
    expect(native.alignmentOf(new Uint8Array(ab, at))).toBe(0);
    // The kernel backs the advised pages with huge pages when they are first touched (unless the
    // machine has them off altogether).
    const before = hugeKiB();
    new Uint8Array(ab, at, need).fill(7);
    const thp = fs.existsSync('/sys/kernel/mm/transparent_hugepage/enabled') ? fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8') : '[never]';
    if (!thp.includes('[never]')) expect(hugeKiB() - before).toBeGreaterThanOrEqual(2048);
    // The record slabs the engine seals into are advised when they are made.
    const slabs = new BlobSlabs(1, 6 << 20);
    const beforeSlab = hugeKiB();
    new Uint8Array(slabs.all[0]!).fill(7);
    if (!thp.includes('[never]')) expect(hugeKiB() - beforeSlab).toBeGreaterThanOrEqual(4096);
    // A buffer that holds no whole huge page: its length. Views of it count from their first byte.
    expect(native.hugePages(new ArrayBuffer(1 << 20))).toBe(1 << 20);
    const view = new Uint8Array(ab, 4096, 4 << 20);
    expect(native.hugePages(view)).toBe((at - 4096 + HUGE_PAGE) % HUGE_PAGE);
    expect(() => native.hugePages('buffer')).toThrow(/hugePages\(buffer: ArrayBuffer \| Uint8Array\)/);
    expect(() => native.hugePages(new Uint16Array(8))).toThrow(/hugePages/);
  });
});

describe('native allocator setting', () => {
  it('shares malloc arenas across threads (what the CLI asks at start); a count below 1 is refused', () => {
    if (!native) {
      expect(process.env.CI).toBeFalsy();
      return;
    }
    expect(() => native.shareMallocArenas(0)).toThrow(/at least 1/);
    expect(() => native.shareMallocArenas('two')).toThrow(/at least 1/);
    // Generous here (the test process keeps its threads' arenas; new threads share these).
    expect(native.shareMallocArenas(64)).toBe(true);
  });
});

describe('native backup engine', () => {
  const engineThere = () => {
    if (native?.engineAvailable?.()) return true;
    // In CI the addon and libzstd are always there.
    expect(process.env.CI).toBeFalsy();
    return false;
  };

  it('names chunks as node:crypto does: SHA-256, and HMAC-SHA-256 with a key, 16 at a time or one by one', () => {
    if (!engineThere()) return;
    const buf = randomBytes(1 << 20);
    // Every length around the padding edges, then chunk-like lengths, at odd offsets.
    const lengths = [...Array.from({ length: 200 }, (_, i) => i), 1000, 4095, 4096, 8191, 24576, 65535, 65536, ...Array.from({ length: 300 }, (_, i) => 8192 + ((i * 7919) % 57345))];
    const starts = lengths.map((l, i) => (i * 104729) % (buf.length - l));
    const key = randomBytes(32);
    for (const impl of [0, 1]) {
      for (const k of [null, key]) {
        const ids: Uint8Array = native.engineHashMany(buf, Float64Array.from(starts), Float64Array.from(lengths), k, impl);
        expect(ids.length).toBe(lengths.length * 32);
        const bad = lengths.filter((l, i) => {
          const want = (k ? createHmac('sha256', k) : createHash('sha256')).update(buf.subarray(starts[i]!, starts[i]! + l)).digest();
          return !want.equals(Buffer.from(ids.buffer, ids.byteOffset + i * 32, 32));
        });
        expect(bad).toEqual([]);
      }
    }
    expect([0, 1]).toContain(native.engineHashImpl());
    expect(() => native.engineHashMany(buf, new Float64Array([buf.length]), new Float64Array([1]), null, -1)).toThrow(/outside the buffer/);
  });

  it('checks chunks against their ids all at once: the ones that differ are flagged, with or without a key', () => {
    if (!engineThere()) return;
    const data = randomBytes(300_000);
    const starts = [0, 10, 70_000, 150_000, 299_000];
    const lengths = [0, 65536, 24_000, 1, 1000];
    const key = randomBytes(32);
    for (const k of [null, key]) {
      const ids = Buffer.concat(starts.map((s0, i) => (k ? createHmac('sha256', k) : createHash('sha256')).update(data.subarray(s0, s0 + lengths[i]!)).digest()));
      // Chunk 2's id is damaged, chunk 3 is checked against chunk 4's id.
      ids[2 * 32 + 7]! ^= 1;
      const idAt = [0, 32, 64, 128, 128];
      const bad = new Uint8Array(5);
      expect(native.checkIds(data, Float64Array.from(starts), Float64Array.from(lengths), ids, Float64Array.from(idAt), k, bad)).toBe(2);
      expect(Array.from(bad)).toEqual([0, 0, 1, 1, 0]);
    }
    expect(() => native.checkIds(data, new Float64Array([299_999]), new Float64Array([2]), Buffer.alloc(32), new Float64Array([0]), null, new Uint8Array(1))).toThrow(/outside its buffer/);
  });

  it('maps scattered reads instead of copying them: the same chunks, ids and records; a part across two reads or a read past the end is copied', async () => {
    if (!engineThere()) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-engine-'));
    const file = path.join(dir, 'disk.raw');
    // 4 MiB: random, text-like, zeros and repeats, so that every codec and the zero flag occur.
    const text = Buffer.from('May  1 12:00:00 vm01 sshd[42]: session opened for user root by (uid=0)\n'.repeat(20_000));
    const disk = Buffer.concat([randomBytes(1 << 20), text.subarray(0, 1 << 20), Buffer.alloc(1 << 20), randomBytes(1 << 20)]);
    fs.writeFileSync(file, disk);
    const fd = fs.openSync(file, 'r');
    const mask = (((1 << 14) - 1) << 18) >>> 0;
    // Windows at unaligned offsets, laid end to end; one part each: content-defined, parent cuts kept, given lengths.
    const wins = [
      { pos: 5_000, length: 300_000, mode: 0, bounds: [] as number[] },
      { pos: 1_100_001, length: 400_000, mode: 1, bounds: [65_536, 100_000, 333_333] },
      { pos: 2_000_000, length: 200_000, mode: 2, bounds: [50_000, 150_000] },
      { pos: 3_500_000, length: 500_000, mode: 0, bounds: [] },
    ];
    const build = (spanning: boolean) => {
      const reads: number[] = [];
      const parts: number[] = [];
      const bounds: number[] = [];
      let at = 0;
      for (const w of wins) {
        reads.push(w.pos, at, w.length);
        parts.push(at, w.length, w.pos, 1, w.mode, w.mode === 0 ? Infinity : 0, bounds.length, w.bounds.length);
        bounds.push(...w.bounds);
        at += w.length;
      }
      // One part over the first two reads (only a copy lays them side by side).
      if (spanning) parts.splice(0, 16, 0, wins[0]!.length + wins[1]!.length, 0, 1, 0, Infinity, 0, 0);
      return { reads: Float64Array.from(reads), parts: Float64Array.from(parts), bounds: Float64Array.from(bounds), len: at };
    };
    const name = (b: ReturnType<typeof build>, mappable: boolean) => native.engineName(2, null, fd, b.reads, b.len, mappable, b.parts, b.bounds, 8192, mask, null, true);
    const sealAll = async (named: { seg: unknown; lengths: Uint32Array; zero: Uint8Array }) => {
      const picks = Uint32Array.from(Array.from(named.zero.keys()).filter((i) => !named.zero[i]));
      const slab = Buffer.alloc(8 << 20);
      const r = await native.engineSeal(named.seg, picks, slab, 1, 1, null);
      return { codecs: Array.from(r.codecs as Uint8Array), bytes: slab.subarray(0, r.blobLen).toString('hex') };
    };
    try {
      for (const spanning of [false, true]) {
        const b = build(spanning);
        const [mapped, copied] = [await name(b, true), await name(b, false)];
        expect([mapped.mapped, copied.mapped]).toEqual([!spanning, false]);
        expect(Array.from(mapped.lengths)).toEqual(Array.from(copied.lengths));
        expect(Array.from(mapped.partCounts)).toEqual(Array.from(copied.partCounts));
        expect(Buffer.from(mapped.ids).equals(Buffer.from(copied.ids))).toBe(true);
        expect(Array.from(mapped.zero)).toEqual(Array.from(copied.zero));
        // The ids are the windows' own bytes.
        const first = disk.subarray(wins[0]!.pos, wins[0]!.pos + mapped.lengths[0]!);
        expect(Buffer.from(mapped.ids.subarray(0, 32)).equals(createHash('sha256').update(first).digest())).toBe(true);
        const [m, c] = [await sealAll(mapped), await sealAll(copied)];
        expect(m.codecs).toEqual(c.codecs);
        expect(new Set(m.codecs).size).toBeGreaterThan(1);
        expect(m.bytes === c.bytes).toBe(true);
      }
      // Past the end: not mapped (that would fault), read, and reported.
      const past = Float64Array.from([4 << 20, 0, 10_000]);
      await expect(native.engineName(2, null, fd, past, 10_000, true, new Float64Array([0, 10_000, 0, 1, 0, Infinity, 0, 0]), new Float64Array(0), 8192, mask, null, false)).rejects.toThrow(/the source ends before byte/);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('decodes sealed records back in one call (zstd, LZ4, raw, encrypted) and names each record it cannot decode; LZ4 blocks are the ones lz4-napi reads and writes', async () => {
    if (!engineThere()) return;
    const text = Buffer.from('Jan  2 03:04:05 vm02 kernel: eth0 link up, 10 Gbps full duplex\n'.repeat(4000));
    const data = Buffer.concat([text.subarray(0, 150_000), randomBytes(100_000), text.subarray(0, 90_000)]);
    const mask = (((1 << 14) - 1) << 18) >>> 0;
    const part = new Float64Array([0, data.length, 0, 1, 0, Infinity, 0, 0]);
    const key = randomBytes(32);
    for (const [k, codecNo] of [[null, 1], [key, 1], [null, 2], [key, 2]] as const) {
      const named = await native.engineName(2, new Uint8Array(data), -1, new Float64Array(0), data.length, false, part, new Float64Array(0), 8192, mask, null, true);
      const n = named.lengths.length as number;
      const picks = Uint32Array.from({ length: n }, (_, i) => i);
      const slab = Buffer.alloc(2 << 20);
      const sealed = await native.engineSeal(named.seg, picks, slab, codecNo, 1, k);
      // Where each record's payload lies in the slab (after its header).
      const at = Float64Array.from(sealed.at as Float64Array);
      const rawLen = Uint32Array.from(named.lengths as Uint32Array);
      const outAt = new Float64Array(n);
      for (let i = 1; i < n; i++) outAt[i] = outAt[i - 1]! + rawLen[i - 1]!;
      const codec = Uint8Array.from(sealed.codecs as Uint8Array);
      expect(new Set(Array.from(codec, (c) => c & 0x7f))).toEqual(new Set([0, codecNo]));
      const decode = (spans: Uint8Array[], c = codec, withKey = k) => {
        const out = Buffer.alloc(data.length);
        const status = new Uint8Array(n);
        const bad = native.decodeRecords(spans, new Uint32Array(n), at, Uint32Array.from(sealed.storedLen as Uint32Array), rawLen, c, out, outAt, withKey, status);
        return { out, status: Array.from(status), bad };
      };
      const good = decode([slab]);
      expect([good.bad, good.out.equals(data)]).toEqual([0, true]);
      // A flipped payload byte: that record is damaged (it does not authenticate, or decodes wrong / not at all).
      const damaged = Buffer.from(slab);
      damaged[at[0]! + 20]! ^= 0x40;
      const d = decode([damaged]);
      if (k) expect(d.status[0]).toBe(3);
      else expect(d.status[0] === 0 ? d.out.subarray(0, rawLen[0]!).equals(data.subarray(0, rawLen[0]!)) : true).toBe(false);
      expect(d.status.slice(1).every((x) => x === 0)).toBe(true);
      // An unknown codec, a missing key, a record outside its span.
      expect(decode([slab], Uint8Array.from(codec, (c, i) => (i === 1 ? (c & 0x80) | 9 : c))).status[1]).toBe(1);
      if (k) expect(decode([slab], codec, null).status.every((x) => x === 2)).toBe(true);
      expect(decode([slab.subarray(0, at[n - 1]! + 1)]).status[n - 1]).toBe(6);
      if (codecNo === 2 && !k) {
        // The addon's LZ4 blocks are lz4-napi's (its blocks carry their raw length in front), both ways.
        const i = Array.from(codec).indexOf(2);
        const block = slab.subarray(at[i]!, at[i]! + (sealed.storedLen as Uint32Array)[i]!);
        const len = Buffer.alloc(4);
        len.writeUInt32LE(rawLen[i]!);
        const raw = data.subarray(outAt[i]!, outAt[i]! + rawLen[i]!);
        expect(lz4.uncompressSync(Buffer.concat([len, block])).equals(raw)).toBe(true);
        const theirs = lz4.compressSync(raw).subarray(4);
        const out = Buffer.alloc(rawLen[i]!);
        expect(native.decodeRecords([theirs], new Uint32Array(1), new Float64Array(1), Uint32Array.of(theirs.length), Uint32Array.of(rawLen[i]!), Uint8Array.of(2), out, new Float64Array(1), null, new Uint8Array(1))).toBe(0);
        expect(out.equals(raw)).toBe(true);
      }
    }
    expect(() => native.decodeRecords([], new Uint32Array(1), new Float64Array(0), new Uint32Array(1), new Uint32Array(1), new Uint8Array(1), new Uint8Array(1), new Float64Array(1), null, new Uint8Array(1))).toThrow(/one value per record/);
  });

  it('a read past the end of the source is a clear error; a segment is sealed once; bad arguments are refused', async () => {
    if (!engineThere()) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-engine-'));
    const file = path.join(dir, 'disk.raw');
    fs.writeFileSync(file, randomBytes(100_000));
    const fd = fs.openSync(file, 'r');
    const part = (length: number) => new Float64Array([0, length, 0, 1, 0, Infinity, 0, 0]);
    const mask = (((1 << 14) - 1) << 18) >>> 0;
    try {
      await expect(native.engineName(2, null, fd, new Float64Array([50_000, 0, 100_000]), 100_000, false, part(100_000), new Float64Array(0), 8192, mask, null, true)).rejects.toThrow(
        /the source ends before byte 150000 \(read 50000 of 100000 bytes at 50000\)/,
      );
      const named = await native.engineName(2, null, fd, new Float64Array([0, 0, 100_000]), 100_000, false, part(100_000), new Float64Array(0), 8192, mask, null, true);
      const total = Array.from(named.lengths as Uint32Array).reduce((a, b) => a + b, 0);
      expect(total).toBe(100_000);
      const slab = Buffer.alloc(1 << 20);
      expect(() => native.engineSeal(named.seg, Uint32Array.from([0]), slab, 7, 1, null)).toThrow(/codec must be 1 \(zstd\) or 2/);
      expect(() => native.engineSeal(named.seg, Uint32Array.from([0]), slab, 2, 0, null)).toThrow(/acceleration 1 and up/);
      const sealed = await native.engineSeal(named.seg, Uint32Array.from([0]), slab, 2, 1, null);
      expect(sealed.blob).toBeNull();
      // A record: codec, stored length, raw length, id, payload (random bytes are stored raw).
      expect([slab[0], slab.readUInt32LE(5), slab.subarray(9, 41).equals(Buffer.from(named.ids.subarray(0, 32)))]).toEqual([0, named.lengths[0], true]);
      expect(() => native.engineSeal(named.seg, Uint32Array.from([0]), slab, 1, 1, null)).toThrow(/already sealed or dropped/);
      native.engineDrop(named.seg);
      expect(() => native.engineName(2, null, -1, new Float64Array(0), 10, false, part(10), new Float64Array(0), 8192, mask, null, true)).toThrow(/source buffer or a descriptor/);
      expect(() => native.engineName(2, new Uint8Array(10), -1, new Float64Array(0), 10, false, part(20), new Float64Array(0), 8192, mask, null, true)).toThrow(/outside the bytes/);
      expect(() => native.engineSeal({}, Uint32Array.from([0]), null, 1, 1, null)).toThrow(/engineSeal/);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
