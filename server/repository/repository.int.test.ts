import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { seededBytes } from '@/server/lib/random';
import { initRepository, openFileSource, openRepository, type FilesystemRepository } from './index';
import { nativeEngineAvailable } from './native-engine';
import type { ImageSource } from './types';

const MiB = 1 << 20;
const root = path.resolve(import.meta.dirname, '../..');
const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** A VM-like image: a shared "OS" run at a VM-specific offset, unique data, zeros (sparse). */
function makeImage(file: string, seed: number, sizeMiB = 24): void {
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, sizeMiB * MiB);
  const os_ = seededBytes(1, 'shared-os', 4 * MiB);
  fs.writeSync(fd, os_, 0, os_.length, MiB + seed * 4096 * 7);
  const mine = seededBytes(seed, 'unique', 3 * MiB);
  fs.writeSync(fd, mine, 0, mine.length, 9 * MiB + seed * 333);
  fs.closeSync(fd);
}

const src = (s: ImageSource) => s;

/** Both chunk engines are tested where the native one can run (in CI it must: see the engines' own test). */
const ENGINES = nativeEngineAvailable() ? (['native', 'workers'] as const) : (['workers'] as const);

/** Backs up one image file as disk 0 of a new point of `series`. */
async function backup(r: FilesystemRepository, series: string, file: string) {
  const s = await openFileSource(file);
  try {
    return await r.backup({ series, disks: [{ index: 0, source: s }] });
  } finally {
    await s.close();
  }
}

describe.each(ENGINES)('repository on real files (%s engine)', (engine) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-repo-test-'));
  const repoDir = path.join(dir, 'repo');
  let repo: FilesystemRepository;
  const imgA = path.join(dir, 'a.raw');
  const imgB = path.join(dir, 'b.raw');

  beforeAll(async () => {
    makeImage(imgA, 1);
    makeImage(imgB, 2);
    await initRepository({ path: repoDir });
    repo = await openRepository({ path: repoDir, engine });
  });
  afterAll(async () => {
    await repo.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  /** Restores disk 0 of a point into a scratch file and checks it is `file`, byte for byte. */
  const expectRestored = async (pointId: string, file: string) => {
    const out = path.join(dir, `${pointId}.out`);
    await repo.restoreDisk({ pointId, diskIndex: 0, outPath: out });
    expect(sha(out)).toBe(sha(file));
    fs.rmSync(out);
  };
  /** Disk 0 of a point as [offset, length, id] rows (null id: zeros). */
  const manifest = async (pointId: string, r = repo) => {
    let at = 0;
    return (await r.readPoint(pointId)).disks.get(0)!.entries().map((e) => {
      const row: [number, number, string | null] = [at, e.length, e.id?.toString('hex') ?? null];
      at += e.length;
      return row;
    });
  };

  it('backs up, deduplicates shared content at other offsets, and restores byte-exact into sparse files', async () => {
    const a = await openFileSource(imgA);
    const b = await openFileSource(imgB);
    const ra = await repo.backup({ series: 'a', disks: [{ index: 0, source: a }] });
    const rb = await repo.backup({ series: 'b', disks: [{ index: 0, source: b }] });
    await a.close();
    await b.close();
    expect(ra.storedBytesAdded).toBeGreaterThan(6 * MiB);
    // b shares the 4 MiB "OS" run (at another offset): it adds little more than its unique 3 MiB
    expect(rb.storedBytesAdded).toBeLessThan(3.6 * MiB);
    const out = path.join(dir, 'a.out');
    const r = await repo.restoreDisk({ pointId: ra.pointId, diskIndex: 0, outPath: out });
    expect(sha(out)).toBe(sha(imgA));
    const st = fs.statSync(out);
    expect(st.size).toBe(24 * MiB);
    expect(st.blocks * 512).toBeLessThan(12 * MiB);
    expect((await repo.digestDisk({ pointId: ra.pointId, diskIndex: 0 })).digest).toBe(r.digest);

    // The restore workers' per-chunk decode (where the addon cannot decode) gives the same image.
    process.env.QUIESCE_RESTORE_DECODE = 'js';
    const js = await openRepository({ path: repoDir, engine });
    try {
      const viaJs = path.join(dir, 'a-js.out');
      await js.restoreDisk({ pointId: ra.pointId, diskIndex: 0, outPath: viaJs });
      expect(sha(viaJs)).toBe(sha(imgA));
      fs.rmSync(viaJs);
      // Verify opens its records the same way.
      expect(await js.verify({ pointId: ra.pointId })).toMatchObject({ ok: true, damagedChunks: [] });
    } finally {
      delete process.env.QUIESCE_RESTORE_DECODE;
      await js.close();
    }
  });

  it('a sparse disk of 6 GiB (zero runs longer than a manifest entry holds): full, incremental and re-read points restore exactly', async () => {
    const GiB = 1024 * MiB;
    const img = path.join(dir, 'big.raw');
    const head = seededBytes(3, 'big-head', MiB);
    const tail = seededBytes(3, 'big-tail', MiB);
    const fd = fs.openSync(img, 'w');
    fs.ftruncateSync(fd, 6 * GiB);
    fs.writeSync(fd, head, 0, MiB, 0);
    fs.writeSync(fd, tail, 0, MiB, 6 * GiB - MiB);
    fs.closeSync(fd);
    // A repository of its own (the others count their points).
    await initRepository({ path: path.join(dir, 'big-repo') });
    const repo = await openRepository({ path: path.join(dir, 'big-repo'), engine });
    const manifestOf = (pointId: string) => manifest(pointId, repo);
    const s = await openFileSource(img);
    const full = await repo.backup({ series: 'big', disks: [{ index: 0, source: s }] });
    // The two segments with data, no more.
    expect(full.bytesRead).toBe(16 * MiB);
    const zeroRuns = (await manifestOf(full.pointId)).filter(([, , id]) => id === null);
    expect(zeroRuns.length).toBeGreaterThan(1);
    expect(Math.max(...zeroRuns.map(([, l]) => l))).toBeLessThan(2 ** 32);
    // A write in the middle of the zeros (a short extent) and a re-read of everything.
    const mid = seededBytes(3, 'big-mid', 8192);
    const wfd = fs.openSync(img, 'r+');
    fs.writeSync(wfd, mid, 0, mid.length, 5 * GiB + 4096);
    fs.closeSync(wfd);
    const inc = await repo.backup({ series: 'big', parentPointId: full.pointId, disks: [{ index: 0, source: s, changedExtents: [[5 * GiB + 4096, 8192]] }] });
    const again = await repo.backup({ series: 'big', parentPointId: inc.pointId, disks: [{ index: 0, source: s }] });
    await s.close();
    expect(inc.bytesRead).toBeLessThanOrEqual(64 * 1024);
    expect(again.storedBytesAdded).toBe(0);
    expect(await manifestOf(again.pointId)).toEqual(await manifestOf(inc.pointId));
    const out = path.join(dir, 'big.out');
    for (const [pointId, withMid] of [[full.pointId, false], [again.pointId, true]] as const) {
      await repo.restoreDisk({ pointId, diskIndex: 0, outPath: out, digest: false });
      const st = fs.statSync(out);
      expect(st.size).toBe(6 * GiB);
      expect(st.blocks * 512).toBeLessThan(16 * MiB);
      const rfd = fs.openSync(out, 'r');
      const at = (pos: number, len: number) => {
        const b = Buffer.alloc(len);
        fs.readSync(rfd, b, 0, len, pos);
        return b;
      };
      expect(at(0, MiB).equals(head)).toBe(true);
      expect(at(6 * GiB - MiB, MiB).equals(tail)).toBe(true);
      expect(at(5 * GiB, 4096 + 8192 + 4096).equals(Buffer.concat([Buffer.alloc(4096), withMid ? mid : Buffer.alloc(8192), Buffer.alloc(4096)]))).toBe(true);
      fs.closeSync(rfd);
      fs.rmSync(out);
    }
    await repo.close();
    fs.rmSync(img);
  });

  it('an incremental from changed extents reads little: short extents keep the parent\'s cuts, a long one is cut like a fresh full read', async () => {
    const base = await repo.latestPoint('a');
    const fd = fs.openSync(imgA, 'r+');
    const extents: Array<[number, number]> = [];
    // In the shared "OS" run, in the unique data, and in zeros.
    for (const off of [2 * MiB + 4096, 10 * MiB, 20 * MiB]) {
      fs.writeSync(fd, randomBytes(65536), 0, 65536, off);
      extents.push([off - (off % 65536), 2 * 65536]);
    }
    fs.closeSync(fd);
    const s = await openFileSource(imgA);
    const inc = await repo.backup({ series: 'a', parentPointId: base!.id, disks: [{ index: 0, source: s, changedExtents: extents }] });
    // A source without a descriptor is read on the main thread and handed to the workers: same cuts.
    const viaMain = await repo.backup({ series: 'a', parentPointId: base!.id, disks: [{ index: 0, source: src({ sizeBytes: s.sizeBytes, read: (o, l) => s.read(o, l) }), changedExtents: extents }] });
    // A re-read compared with the incremental finds nothing new.
    const reread = await repo.backup({ series: 'a', parentPointId: inc.pointId, disks: [{ index: 0, source: s }] });
    await s.close();
    // Each 128 KiB extent is read from the parent's cut before it to the one after it (chunks are at most 64 KiB).
    expect(inc.bytesRead).toBeLessThanOrEqual(3 * (2 * 65536 + 2 * 65536));
    expect(viaMain.bytesRead).toBe(inc.bytesRead);
    expect(await manifest(inc.pointId)).toEqual(await manifest(viaMain.pointId));
    expect(reread.storedBytesAdded).toBe(0);
    expect(await manifest(reread.pointId)).toEqual(await manifest(inc.pointId));
    // No new cut: every cut is the parent's, or (where zeros became data) on the zero-run grid.
    const parentCuts = new Set((await manifest(base!.id)).map(([at]) => at));
    const incEntries = await manifest(inc.pointId);
    expect(incEntries.filter(([at]) => !parentCuts.has(at) && at % 65536 !== 0)).toEqual([]);
    // Away from the extents every data chunk is the parent's (zero runs merge with their neighbours).
    const near = (at: number) => extents.some(([o, l]) => at > o - 65536 && at < o + l + 65536);
    const parentById = new Map((await manifest(base!.id)).map(([at, len, id]) => [at, `${len}:${id}`]));
    expect(incEntries.filter(([at, len, id]) => id && !near(at) && parentById.get(at) !== `${len}:${id}`)).toEqual([]);
    await expectRestored(inc.pointId, imgA);

    // A long extent: 777 bytes inserted into 2 MiB of the "OS" run, the rest moved right (a file
    // edited in place). Content-defined cuts find the moved data again.
    const region = Buffer.alloc(2 * MiB);
    const rw = fs.openSync(imgA, 'r+');
    fs.readSync(rw, region, 0, region.length, 3 * MiB);
    const shifted = Buffer.concat([region.subarray(0, 5000), randomBytes(777), region.subarray(5000, region.length - 777)]);
    fs.writeSync(rw, shifted, 0, shifted.length, 3 * MiB);
    fs.closeSync(rw);
    const s2 = await openFileSource(imgA);
    const moved = await repo.backup({ series: 'a', parentPointId: inc.pointId, disks: [{ index: 0, source: s2, changedExtents: [[3 * MiB, 2 * MiB]] }] });
    const fresh = await repo.backup({ series: 'a', disks: [{ index: 0, source: s2 }] });
    await s2.close();
    expect(moved.storedBytesAdded).toBeLessThan(256 * 1024);
    const inRegion = async (id: string) => (await manifest(id)).filter(([at]) => at >= 3 * MiB && at < 5 * MiB);
    expect(await inRegion(moved.pointId)).toEqual(await inRegion(fresh.pointId));
    await expectRestored(moved.pointId, imgA);
  });

  it('a re-read compared with its parent keeps the unchanged chunks by hash; short changes keep the parent\'s cuts, a long one is cut like a fresh full read', async () => {
    const base = await repo.latestPoint('a');
    const fd = fs.openSync(imgA, 'r+');
    fs.writeSync(fd, randomBytes(100_000), 0, 100_000, 5 * MiB + 777);
    // Data turned into zeros, and zeros turned into data.
    fs.writeSync(fd, Buffer.alloc(200_000), 0, 200_000, 9 * MiB + 4096);
    fs.writeSync(fd, randomBytes(50_000), 0, 50_000, 22 * MiB);
    // 1.5 MiB written into zeros: long enough to be cut content-defined.
    fs.writeSync(fd, randomBytes(1.5 * MiB), 0, 1.5 * MiB, 14 * MiB);
    fs.closeSync(fd);
    const s = await openFileSource(imgA);
    const reread = await repo.backup({ series: 'a', parentPointId: base!.id, disks: [{ index: 0, source: s }] });
    const again = await repo.backup({ series: 'a', parentPointId: reread.pointId, disks: [{ index: 0, source: s }] });
    const full = await repo.backup({ series: 'a', disks: [{ index: 0, source: s }] });
    await s.close();
    expect(reread.storedBytesAdded).toBeGreaterThan(1.5 * MiB + 100_000);
    expect(reread.storedBytesAdded).toBeLessThan(2.5 * MiB);
    expect(again.storedBytesAdded).toBe(0);
    expect(await manifest(again.pointId)).toEqual(await manifest(reread.pointId));
    const rows = await manifest(reread.pointId);
    // The short changes: no cut but the parent's (or the zero-run grid where zeros became data).
    const parentCuts = new Set((await manifest(base!.id)).map(([at]) => at));
    expect(rows.filter(([at]) => (at < 13 * MiB || at > 16 * MiB) && !parentCuts.has(at) && at % 65536 !== 0)).toEqual([]);
    // The long one: the cuts of a fresh full read.
    const inLong = (r: Array<[number, number, string | null]>) => r.filter(([at]) => at >= 14 * MiB + 65536 && at < 15.5 * MiB - 65536);
    expect(inLong(rows).length).toBeGreaterThan(10);
    expect(inLong(rows)).toEqual(inLong(await manifest(full.pointId)));
    expect(inLong(rows).some(([at]) => at % 65536 !== 0)).toBe(true);
    await expectRestored(reread.pointId, imgA);
  });

  it('a repository keeps the chunker it was created with: an older 4 KiB / 13-bit one still cuts (and resyncs) its way', async () => {
    const oldDir = path.join(dir, 'repo-4k');
    await initRepository({ path: oldDir });
    const cfgFile = path.join(oldDir, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    expect(cfg.chunker).toMatchObject({ min: 8192, maskBits: 14 });
    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, chunker: { ...cfg.chunker, min: 4096, maskBits: 13 } }));
    const old = await openRepository({ path: oldDir, engine });
    const newDir = path.join(dir, 'repo-default');
    await initRepository({ path: newDir });
    const current = await openRepository({ path: newDir, engine });
    try {
      const img = path.join(dir, 'old.raw');
      makeImage(img, 5);
      const s = await openFileSource(img);
      const first = await old.backup({ series: 'old', disks: [{ index: 0, source: s }] });
      const fresh = await current.backup({ series: 'cmp', disks: [{ index: 0, source: s }] });
      const oldChunks = (await old.readPoint(first.pointId)).disks.get(0)!.entries().filter((e) => e.id);
      const newChunks = (await current.readPoint(fresh.pointId)).disks.get(0)!.entries().filter((e) => e.id);
      expect(Math.min(...oldChunks.slice(0, -1).map((e) => e.length))).toBeLessThan(8192);
      expect(oldChunks.length).toBeGreaterThan(newChunks.length * 1.4);
      // A long extent (re-chunked, not kept at the parent's cuts).
      const fd = fs.openSync(img, 'r+');
      fs.writeSync(fd, randomBytes(MiB), 0, MiB, 10 * MiB);
      fs.closeSync(fd);
      const inc = await old.backup({ series: 'old', parentPointId: first.pointId, disks: [{ index: 0, source: s, changedExtents: [[10 * MiB, MiB]] }] });
      const full = await old.backup({ series: 'old', disks: [{ index: 0, source: s }] });
      await s.close();
      expect(inc.bytesRead).toBeLessThan(2 * MiB);
      const key = (es: Array<{ length: number; id: Buffer | null }>) => es.map((e) => [e.length, e.id?.toString('hex') ?? null]);
      expect(key((await old.readPoint(inc.pointId)).disks.get(0)!.entries())).toEqual(key((await old.readPoint(full.pointId)).disks.get(0)!.entries()));
      expect(full.storedBytesAdded).toBe(0);
    } finally {
      await old.close();
      await current.close();
    }
  });

  it('verify detects a single flipped byte and names the restore points it breaks', async () => {
    expect((await repo.verify()).ok).toBe(true);
    const packDir = path.join(repoDir, 'packs');
    const pack = fs.readdirSync(packDir).find((n) => n.endsWith('.pack'))!;
    const f = path.join(packDir, pack);
    const bytes = fs.readFileSync(f);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0x01;
    fs.writeFileSync(f, bytes);
    const rep = await repo.verify();
    expect(rep.ok).toBe(false);
    expect(rep.damagedChunks.length).toBeGreaterThanOrEqual(1);
    expect(rep.brokenPoints.length).toBeGreaterThanOrEqual(1);
    for (const d of rep.damagedChunks) expect(d.points.every((p) => rep.brokenPoints.includes(p))).toBe(true);
    // One point's chunks only: the broken one reports the damage; a point without that chunk is fine.
    const one = await repo.verify({ pointId: rep.brokenPoints[0]! });
    expect(one.ok).toBe(false);
    expect(one.damagedChunks.map((d) => d.id)).toEqual(rep.damagedChunks.filter((d) => d.points.includes(rep.brokenPoints[0]!)).map((d) => d.id));
    expect(one.chunksChecked).toBeLessThan(rep.chunksChecked);
    const healthy = (await repo.listPoints()).find((p) => !rep.brokenPoints.includes(p.id));
    if (healthy) expect((await repo.verify({ pointId: healthy.id })).ok).toBe(true);
    // Restoring a broken point fails, clearly, as often as it is tried; the repository stays usable.
    for (let i = 0; i < 12; i++) await expect(repo.restoreDisk({ pointId: rep.brokenPoints[0]!, diskIndex: 0, outPath: path.join(dir, 'broken.out') })).rejects.toThrow(/damaged/);
    bytes[at] = bytes[at]! ^ 0x01;
    fs.writeFileSync(f, bytes);
    expect((await repo.verify()).ok).toBe(true);
    await repo.restoreDisk({ pointId: rep.brokenPoints[0]!, diskIndex: 0, outPath: path.join(dir, 'broken.out') });
    fs.rmSync(path.join(dir, 'broken.out'));
  });

  it('prune then gc frees unreferenced chunks and keeps every remaining point restorable', async () => {
    const before = await repo.stats();
    const pr = await repo.prune({ keepLast: 1 });
    expect(pr.removed.length).toBeGreaterThan(0);
    const gc = await repo.gc();
    expect(gc.packsRemoved + gc.packsRewritten).toBeGreaterThanOrEqual(0);
    const after = await repo.stats();
    expect(after.points).toBe(2);
    expect(after.storedBytes).toBeLessThanOrEqual(before.storedBytes);
    expect((await repo.verify()).ok).toBe(true);
    for (const p of await repo.listPoints()) await expectRestored(p.id, p.series === 'a' ? imgA : imgB);
  });

  it('gc never removes what a running backup needs: it waits for the backup', async () => {
    const img = path.join(dir, 'slow.raw');
    makeImage(img, 3);
    const file = await openFileSource(img);
    let reads = 0;
    const slow = src({
      sizeBytes: file.sizeBytes,
      read: async (o, l) => {
        if (reads++ === 0) await new Promise((r) => setTimeout(r, 1500));
        return file.read(o, l);
      },
    });
    const running = repo.backup({ series: 'slow', disks: [{ index: 0, source: slow }] });
    await new Promise((r) => setTimeout(r, 300));
    const gcStarted = Date.now();
    const gc = repo.gc({ waitMs: 60_000 });
    const bk = await running;
    await gc;
    expect(Date.now() - gcStarted).toBeGreaterThan(500);
    await file.close();
    await expectRestored(bk.pointId, img);
    expect((await repo.verify()).ok).toBe(true);
  });

  it('a pack that fails to be written fails every backup that counted on its chunks, not only the one whose flush reports it', async () => {
    // Two backups of the same new content at once: one stores the chunks, the other counts on them
    // while they are pending. The pack's rename fails; its chunks are withdrawn.
    const img = path.join(dir, 'twin.raw');
    makeImage(img, 9);
    const [s1, s2] = await Promise.all([openFileSource(img), openFileSource(img)]);
    const rename = fs.promises.rename.bind(fs.promises);
    let failed = 0;
    const spy = vi.spyOn(fs.promises, 'rename').mockImplementation(async (from, to) => {
      if (String(to).endsWith('.pack') && failed++ === 0) throw new Error('injected: device gone');
      return rename(from, to);
    });
    const before = (await repo.listPoints()).length;
    let results: PromiseSettledResult<unknown>[];
    try {
      results = await Promise.allSettled([repo.backup({ series: 'twin-1', disks: [{ index: 0, source: s1 }] }), repo.backup({ series: 'twin-2', disks: [{ index: 0, source: s2 }] })]);
    } finally {
      spy.mockRestore();
      await s1.close();
      await s2.close();
    }
    expect(failed).toBeGreaterThan(0);
    // Neither commits a point that names a withdrawn chunk.
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((await repo.listPoints()).length).toBe(before);
    expect((await repo.verify()).ok).toBe(true);
    // Run again, it works.
    const again = await openFileSource(img);
    const ok = await repo.backup({ series: 'twin-1', disks: [{ index: 0, source: again }] });
    await again.close();
    await expectRestored(ok.pointId, img);
  });

  it('a backup that counts on chunks another backup is still sealing waits for them: it does not fail when it finishes first', async () => {
    // The first backup claims the chunks and its seal is held back; the second finds them all
    // pending, has nothing to seal itself, and reaches its commit first. The image's data lies in
    // one segment, so the first backup seals once, after it has claimed every chunk (with data in
    // two, the second could start while the first was still naming the other: a race).
    const img = path.join(dir, 'slow-twin.raw');
    const fd = fs.openSync(img, 'w');
    fs.ftruncateSync(fd, 24 * MiB);
    fs.writeSync(fd, seededBytes(21, 'slow-twin', 3 * MiB), 0, 3 * MiB, 9 * MiB + 4096);
    fs.closeSync(fd);
    const [s1, s2] = await Promise.all([openFileSource(img), openFileSource(img)]);
    const engine = repo.engine;
    const seal = engine.seal.bind(engine);
    let claimed!: () => void;
    const firstSeal = new Promise<void>((r) => (claimed = r));
    let seals = 0;
    const spy = vi.spyOn(engine, 'seal').mockImplementation(async (seg, indices, slab) => {
      if (seals++ === 0) {
        claimed();
        await new Promise((r) => setTimeout(r, 1500));
      }
      return seal(seg, indices, slab);
    });
    try {
      const first = repo.backup({ series: 'slow-1', disks: [{ index: 0, source: s1 }] });
      await firstSeal;
      const second = await repo.backup({ series: 'slow-2', disks: [{ index: 0, source: s2 }] });
      expect(second.storedBytesAdded).toBe(0);
      const one = await first;
      expect(one.storedBytesAdded).toBeGreaterThan(0);
      await expectRestored(second.pointId, img);
    } finally {
      spy.mockRestore();
      await s1.close();
      await s2.close();
    }
  });

  it('a backup that fails returns only when nothing of it still runs: its other batches end first, later ones never start', async () => {
    const img = path.join(dir, 'fails-midway.raw');
    const fd = fs.openSync(img, 'w');
    for (let i = 0; i < 6; i++) fs.writeSync(fd, seededBytes(40 + i, 'fails-midway', MiB), 0, MiB, i * 8 * MiB + 4096);
    fs.closeSync(fd);
    const s = await openFileSource(img);
    const eng = repo.engine;
    const name = eng.name.bind(eng);
    let calls = 0;
    let running = 0;
    const spy = vi.spyOn(eng, 'name').mockImplementation(async (...args) => {
      const k = calls++;
      running++;
      try {
        if (k === 0) throw new Error('engine fault (test)');
        // The others are still at work when the first fails.
        await new Promise((r) => setTimeout(r, 300));
        return await name(...args);
      } finally {
        running--;
      }
    });
    try {
      await expect(repo.backup({ series: 'fails-midway', disks: [{ index: 0, source: s }] })).rejects.toThrow(/engine fault \(test\)/);
      expect(calls).toBeGreaterThan(1);
      expect(calls).toBeLessThan(6);
      expect(running).toBe(0);
      await new Promise((r) => setTimeout(r, 400));
      expect(calls).toBeLessThan(6);
    } finally {
      spy.mockRestore();
      await s.close();
    }
    expect((await repo.listPoints({ series: 'fails-midway' })).length).toBe(0);
  });

  it('a repository kept open sees what another process\'s gc removed: a later backup stores those chunks again', async () => {
    const x = path.join(dir, 'gone.raw');
    const y = path.join(dir, 'other.raw');
    makeImage(x, 11);
    makeImage(y, 12);
    await backup(repo, 'stale', x);
    await backup(repo, 'stale', y);
    // Another process (its own handle) prunes x's point and collects its chunks.
    const other = await openRepository({ path: repoDir, engine });
    try {
      await other.prune({ keepLast: 1, series: 'stale' });
      expect((await other.gc()).chunksRemoved).toBeGreaterThan(0);
    } finally {
      await other.close();
    }
    // This handle still knew x's chunks: its next backup of x must not count on them.
    const again = await backup(repo, 'stale-again', x);
    expect(again.storedBytesAdded).toBeGreaterThan(2 * MiB);
    await expectRestored(again.pointId, x);
    expect((await repo.verify()).ok).toBe(true);
  });

  it('compresses new chunks at the level the repository was created with', async () => {
    const img = path.join(dir, 'logs.raw');
    const lines: string[] = [];
    for (let i = 0; lines.length < 90_000; i++) lines.push(`2026-12-02T10:${String(i % 60).padStart(2, '0')}:00Z host${i % 7} svc[${(i * 7919) % 10007}]: request ${i} took ${(i * 31) % 997} ms\n`);
    fs.writeFileSync(img, lines.join(''));
    const stored: number[] = [];
    for (const level of [-7, 19]) {
      const d = path.join(dir, `level${level}`);
      await initRepository({ path: d, compressionLevel: level });
      const r = await openRepository({ path: d, engine });
      try {
        stored.push((await backup(r, 'logs', img)).storedBytesAdded);
      } finally {
        await r.close();
      }
    }
    expect(stored[1]!).toBeLessThan(stored[0]! * 0.8);
    await expect(initRepository({ path: path.join(dir, 'level99'), compressionLevel: 99 })).rejects.toThrow(/compression level/);
    expect(fs.existsSync(path.join(dir, 'level99'))).toBe(false);
  });

  it('bad input: not a disk image, missing repository, corrupt manifest, truncated pack — clear errors', async () => {
    await expect(openFileSource(dir)).rejects.toThrow(/directory, not a disk image/);
    const empty = path.join(dir, 'empty.raw');
    fs.writeFileSync(empty, '');
    await expect(openFileSource(empty)).rejects.toThrow(/empty: not a disk image/);
    await expect(openRepository({ path: path.join(dir, 'nope'), engine })).rejects.toThrow(/no repository at/);
    await expect(initRepository({ path: repoDir })).rejects.toThrow(/not empty/);

    const p = (await repo.listPoints({ series: 'b' }))[0]!;
    const mf = path.join(repoDir, 'points', `${p.id}.qpt`);
    const good = fs.readFileSync(mf);
    const bad = Buffer.from(good);
    bad[bad.length - 40] = bad[bad.length - 40]! ^ 0xff;
    fs.writeFileSync(mf, bad);
    await expect(repo.restoreDisk({ pointId: p.id, diskIndex: 0, outPath: path.join(dir, 'x.out') })).rejects.toThrow(/corrupt/);
    fs.writeFileSync(mf, good);

    const packDir = path.join(repoDir, 'packs');
    const pack = fs.readdirSync(packDir).find((n) => n.endsWith('.pack'))!;
    const f = path.join(packDir, pack);
    const full = fs.readFileSync(f);
    fs.truncateSync(f, Math.floor(full.length / 3));
    const rep = await repo.verify();
    expect(rep.ok).toBe(false);
    expect(rep.damagedChunks.some((d) => /truncated/.test(d.problem))).toBe(true);
    fs.writeFileSync(f, full);
    expect((await repo.verify()).ok).toBe(true);

    // A restore that meets a short pack reports it (its spans are mapped only within the file).
    const packs = fs.readdirSync(packDir).filter((n) => n.endsWith('.pack')).map((n) => path.join(packDir, n));
    const saved = packs.map((x) => fs.readFileSync(x));
    for (const x of packs) fs.truncateSync(x, Math.floor(fs.statSync(x).size / 3));
    await expect(repo.restoreDisk({ pointId: p.id, diskIndex: 0, outPath: path.join(dir, 'x.out') })).rejects.toThrow(/pack \S+ is truncated/);
    packs.forEach((x, i) => fs.writeFileSync(x, saved[i]!));
    await repo.restoreDisk({ pointId: p.id, diskIndex: 0, outPath: path.join(dir, 'x.out') });
  });
});

describe('the two chunk engines', () => {
  it('cut, name and store alike: a repository written by one is continued by the other', async () => {
    // In CI the native engine must be there (the addon and libzstd are part of the install).
    if (!nativeEngineAvailable()) {
      expect(process.env.CI).toBeFalsy();
      return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-engines-'));
    try {
      const img = path.join(dir, 'x.raw');
      makeImage(img, 31, 32);
      const key = path.join(dir, 'key');
      const rows = async (r: FilesystemRepository, pointId: string) => {
        let at = 0;
        return (await r.readPoint(pointId)).disks.get(0)!.entries().map((e) => {
          const row = [at, e.length, e.id?.toString('hex') ?? null];
          at += e.length;
          return row;
        });
      };
      const fresh = fs.readFileSync(img);
      // zstd: both engines use libzstd, so their records are the same bytes. LZ4 (encrypted here):
      // liblz4 and lz4-napi compress alike but not to the same bytes; each reads the other's.
      for (const [encrypt, compression] of [[false, 'zstd'], [true, 'lz4']] as const) {
        const repos: Record<string, FilesystemRepository> = {};
        for (const engine of ['native', 'workers'] as const) {
          const d = path.join(dir, `${engine}-${encrypt}`);
          await initRepository({ path: d, compression, ...(encrypt ? { encrypt: true, keyFile: key } : {}) });
          repos[engine] = await openRepository({ path: d, engine, ...(encrypt ? { keyFile: key } : {}) });
          expect(repos[engine]!.engine.kind).toBe(engine);
        }
        try {
          // The same day of changes for both: short extents, a long one, and a source without a descriptor.
          const points: Record<string, string[]> = { native: [], workers: [] };
          for (const engine of ['native', 'workers'] as const) {
            fs.writeFileSync(img, fresh);
            const r = repos[engine]!;
            points[engine]!.push((await backup(r, 'x', img)).pointId);
            const fd = fs.openSync(img, 'r+');
            fs.writeSync(fd, seededBytes(5, 'day', 65536), 0, 65536, 10 * MiB + 65536);
            fs.writeSync(fd, seededBytes(6, 'day', 3 * MiB), 0, 3 * MiB, 20 * MiB);
            fs.closeSync(fd);
            const s = await openFileSource(img);
            const extents: Array<[number, number]> = [[10 * MiB + 65536, 65536], [20 * MiB, 3 * MiB]];
            const inc = await r.backup({ series: 'x', parentPointId: points[engine]![0]!, disks: [{ index: 0, source: s, changedExtents: extents }] });
            const viaBuffers = await r.backup({ series: 'x', parentPointId: points[engine]![0]!, disks: [{ index: 0, source: src({ sizeBytes: s.sizeBytes, read: (o, l) => s.read(o, l) }), changedExtents: extents }] });
            const reread = await r.backup({ series: 'x', parentPointId: points[engine]![0]!, disks: [{ index: 0, source: s }] });
            await s.close();
            points[engine]!.push(inc.pointId, viaBuffers.pointId, reread.pointId);
            expect(inc.storedBytesAdded).toBeGreaterThan(3 * MiB);
          }
          for (let i = 0; i < points.native!.length; i++) expect(await rows(repos.native!, points.native![i]!)).toEqual(await rows(repos.workers!, points.workers![i]!));
          // Unencrypted zstd records are the same bytes too (encrypted ones differ by their random nonces).
          const packed = (engine: string) => {
            const d = path.join(dir, `${engine}-${encrypt}`, 'packs');
            return fs.readdirSync(d).filter((n) => n.endsWith('.pack')).reduce((a, n) => a + fs.statSync(path.join(d, n)).size, 0);
          };
          if (!encrypt) expect(packed('native')).toBe(packed('workers'));
          // Each continues the other's repository, and reads what the other wrote.
          for (const engine of ['native', 'workers']) {
            await repos[engine]!.close();
            delete repos[engine];
          }
          for (const [writer, reader] of [['native', 'workers'], ['workers', 'native']] as const) {
            const r = await openRepository({ path: path.join(dir, `${writer}-${encrypt}`), engine: reader, ...(encrypt ? { keyFile: key } : {}) });
            try {
              const fd = fs.openSync(img, 'r+');
              fs.writeSync(fd, randomBytes(65536), 0, 65536, 2 * MiB);
              fs.closeSync(fd);
              const s = await openFileSource(img);
              const next = await r.backup({ series: 'x', parentPointId: (await r.latestPoint('x'))!.id, disks: [{ index: 0, source: s, changedExtents: [[2 * MiB, 65536]] }] });
              await s.close();
              const out = path.join(dir, `${writer}-${reader}.out`);
              await r.restoreDisk({ pointId: next.pointId, diskIndex: 0, outPath: out });
              expect(sha(out)).toBe(sha(img));
              expect((await r.verify()).ok).toBe(true);
            } finally {
              await r.close();
            }
          }
        } finally {
          for (const r of Object.values(repos)) await r.close();
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each(ENGINES)('encrypted repository (%s engine)', (engine) => {
  it('round-trips with its key; a wrong key is a clear error', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-repo-enc-'));
    try {
      const img = path.join(dir, 'e.raw');
      makeImage(img, 4, 16);
      const key = path.join(dir, 'key');
      await initRepository({ path: path.join(dir, 'r'), encrypt: true, keyFile: key });
      const repo = await openRepository({ path: path.join(dir, 'r'), keyFile: key, engine });
      const s = await openFileSource(img);
      const b = await repo.backup({ series: 'e', disks: [{ index: 0, source: s }] });
      await s.close();
      const out = path.join(dir, 'e.out');
      await repo.restoreDisk({ pointId: b.pointId, diskIndex: 0, outPath: out });
    expect(sha(out)).toBe(sha(img));
      expect((await repo.verify()).ok).toBe(true);
      await repo.close();
      // the plaintext is not in the packs
      const packs = fs.readdirSync(path.join(dir, 'r', 'packs')).filter((n) => n.endsWith('.pack'));
      const needle = seededBytes(4, 'unique', 64);
      expect(packs.some((p) => fs.readFileSync(path.join(dir, 'r', 'packs', p)).includes(needle))).toBe(false);
      const wrong = path.join(dir, 'wrong');
      fs.writeFileSync(wrong, `${randomBytes(32).toString('hex')}\n`);
      await expect(openRepository({ path: path.join(dir, 'r'), keyFile: wrong })).rejects.toThrow(/wrong key/);
      await expect(openRepository({ path: path.join(dir, 'r') })).rejects.toThrow(/encrypted/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a backup killed at random points', () => {
  it('leaves the repository consistent; later backups and restores work', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-repo-kill-'));
    try {
      const repoDir = path.join(dir, 'r');
      await initRepository({ path: repoDir });
      const imgs = [1, 2, 3].map((i) => {
        const f = path.join(dir, `k${i}.raw`);
        makeImage(f, 10 + i, 160);
        // mostly unique data: each run has plenty to do when it is killed
        const fd = fs.openSync(f, 'r+');
        const data = seededBytes(10 + i, 'bulk', 96 * MiB);
        fs.writeSync(fd, data, 0, data.length, 40 * MiB);
        fs.closeSync(fd);
        return f;
      });
      let killed = 0;
      // Rounds until four kills (a round whose backup ends before its random moment is not one).
      for (let round = 0; round < 12 && killed < 4; round++) {
        const child = spawn(process.execPath, [path.join(root, 'bin', 'quiesce.mjs'), 'image', 'backup', '--repo', repoDir, '--json', ...imgs.map((f, i) => `k${i}=${f}`)], { stdio: 'ignore' });
        const exited = new Promise((r) => child.once('exit', r));
        // Once it writes (a pack being filled), kill it a random moment later.
        const packs = path.join(repoDir, 'packs');
        const writing = () => fs.readdirSync(packs).some((n) => n.startsWith('.tmp-'));
        for (let i = 0; i < 600 && child.exitCode === null && !writing(); i++) await new Promise((r) => setTimeout(r, 5));
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 150)));
        if (child.exitCode === null) {
          child.kill('SIGKILL');
          killed++;
        }
        await exited;
        // change the images a little between rounds
        for (const f of imgs) {
          const fd = fs.openSync(f, 'r+');
          fs.writeSync(fd, randomBytes(65536), 0, 65536, Math.floor(Math.random() * 150) * MiB);
          fs.closeSync(fd);
        }
      }
      expect(killed).toBeGreaterThanOrEqual(3);
      const repo = await openRepository({ path: repoDir });
      try {
        const v = await repo.verify();
        expect(v.ok).toBe(true);
        for (const p of await repo.listPoints()) await repo.digestDisk({ pointId: p.id, diskIndex: 0 });
        const s = await openFileSource(imgs[0]!);
        const b = await repo.backup({ series: 'k0', disks: [{ index: 0, source: s }] });
        await s.close();
        const out = path.join(dir, 'k0.out');
        await repo.restoreDisk({ pointId: b.pointId, diskIndex: 0, outPath: out });
    expect(sha(out)).toBe(sha(imgs[0]!));
        const gc = await repo.gc();
        expect(gc).toBeTruthy();
        expect((await repo.verify()).ok).toBe(true);
        expect(fs.readdirSync(path.join(repoDir, 'packs')).some((n) => n.startsWith('.tmp-'))).toBe(false);
      } finally {
        await repo.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
