import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScaledClock } from '@/server/lib/clock';
import { ImageDigest } from '@/server/lib/image-digest';
import { silentLogger } from '@/server/lib/logger';
import { chaosScenario, createLab, type LabHandleFull } from './index';
import { TEST_TOPOLOGY } from './test-topology';

const MiB = 1 << 20;

async function readAll(lab: LabHandleFull, snapshotId: string, disk: number, transport: 'directsan' | 'hotadd' | 'nbd', proxyId: string | null): Promise<string> {
  const r = await lab.hypervisor.openDisk({ snapshotId, diskIndex: disk, transport, proxyId, idempotencyKey: `read-${Math.random()}` });
  const h = new ImageDigest();
  for (let o = 0; o < r.sizeBytes; o += 4 * MiB) h.update(await r.read(o, Math.min(4 * MiB, r.sizeBytes - o)));
  await r.close();
  return h.digest();
}

function pattern(seed: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i += 4) b.writeUInt32LE((seed * 2654435761 + i) >>> 0, i);
  return b;
}

describe('lab data center on real bytes', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-lab-test-'));
  const clock = createScaledClock(50);
  let lab: LabHandleFull;
  let n = 0;
  const key = () => `k-${++n}`;
  const snap = (vm: string, quiesce = false) => lab.hypervisor.createSnapshot({ vmId: `vm-${vm}`, name: `s${n}`, quiesce, idempotencyKey: key() });
  const oracle = async (id: string, d = 0) => (await lab.control.oracle(id, d))!.digest;

  beforeAll(async () => {
    lab = await createLab({ dir, clock, logger: silentLogger, seed: 7, topology: TEST_TOPOLOGY, workloads: false });
    lab.start();
  });
  afterAll(async () => {
    await lab.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('builds system disks: an MBR partition table and an ext4 file system', async () => {
    const head = await lab.control.guestRead('wb0', 0, 0, 2 * MiB);
    expect(head.readUInt16LE(510)).toBe(0xaa55);
    expect(head.readUInt8(446 + 4)).toBe(0x83);
    // ext4 superblock magic 0xEF53 at 1024 + 56 of the partition
    expect(head.readUInt16LE(MiB + 1024 + 56)).toBe(0xef53);
  });

  it('write-back: the guest reads its own writes from the cache; the datastore file lacks them until destaged', async () => {
    const data = pattern(1, 64 * 1024);
    await lab.control.guestWrite('wb0', 0, 4 * MiB, data);
    expect((await lab.control.guestRead('wb0', 0, 4 * MiB, data.length)).equals(data)).toBe(true);
    const onDisk = lab.lab.vm('vm-wb0').disks[0]!.readBase(4 * MiB, data.length);
    expect(onDisk.equals(data)).toBe(false);
    expect((await lab.cache.dirtyBytes('vm-wb0')).total).toBe(64 * 1024);
  });

  it('DirectSAN of a write-back VM with dirty data differs from the oracle; after write-through and clean it matches', async () => {
    await lab.control.guestWrite('wb0', 0, 6 * MiB, pattern(2, 128 * 1024));
    const s1 = await snap('wb0');
    expect(await readAll(lab, s1.id, 0, 'directsan', 'px-phys')).not.toBe(await oracle(s1.id));
    expect(await readAll(lab, s1.id, 0, 'nbd', 'px-pv1')).toBe(await oracle(s1.id));
    await lab.hypervisor.removeSnapshot({ snapshotId: s1.id, idempotencyKey: key() });

    await lab.cache.setPolicy({ vmId: 'vm-wb0', policy: { mode: 'write-through' }, idempotencyKey: key() });
    const w = await lab.cache.waitUntilClean({ vmId: 'vm-wb0', timeoutMs: 60_000 });
    expect(w.clean).toBe(true);
    const s2 = await snap('wb0');
    expect(await readAll(lab, s2.id, 0, 'directsan', 'px-phys')).toBe(await oracle(s2.id));
    await lab.hypervisor.removeSnapshot({ snapshotId: s2.id, idempotencyKey: key() });
    await lab.cache.setPolicy({ vmId: 'vm-wb0', policy: { mode: 'write-back', peers: 0 }, idempotencyKey: key() });
  });

  it('HotAdd: a cross-host proxy off the blacklist misses dirty data and pollutes its cache; on the blacklist the disk is destaged first', async () => {
    await lab.control.guestWrite('wb0', 0, 8 * MiB, pattern(3, 64 * 1024));
    const s = await snap('wb0');
    const before = (await lab.control.inspect()).hosts.find((h) => h.id === 'h2')!.pollutionBytes;
    expect(await readAll(lab, s.id, 0, 'hotadd', 'px-pv2')).not.toBe(await oracle(s.id));
    expect((await lab.control.inspect()).hosts.find((h) => h.id === 'h2')!.pollutionBytes).toBeGreaterThan(before);
    const pv2 = (await lab.hypervisor.listProxies()).find((p) => p.name === 'pv2')!;
    await lab.cache.addToBlacklist({ uuid: pv2.uuid!, name: 'pv2' });
    expect(await readAll(lab, s.id, 0, 'hotadd', 'px-pv2')).toBe(await oracle(s.id));
    expect((await lab.cache.dirtyBytes('vm-wb0')).disks[0]!.bytes).toBe(0);
    await lab.hypervisor.removeSnapshot({ snapshotId: s.id, idempotencyKey: key() });
  });

  it('the blacklist is keyed by UUID and removal needs a confirmation', async () => {
    const pv2 = (await lab.hypervisor.listProxies()).find((p) => p.name === 'pv2')!;
    await expect(lab.cache.removeFromBlacklist({ uuid: pv2.uuid!, confirm: '' })).rejects.toMatchObject({ code: 'CONFIRMATION_REQUIRED' });
    expect((await lab.cache.listBlacklist()).map((b) => b.uuid)).toContain(pv2.uuid);
    await lab.cache.removeFromBlacklist({ uuid: pv2.uuid!, confirm: 'pv2' });
    expect((await lab.cache.listBlacklist()).map((b) => b.uuid)).not.toContain(pv2.uuid);
  });

  it('DirectSAN needs SAN zoning: an NFS disk is unreachable', async () => {
    const s = await snap('wt');
    await expect(lab.hypervisor.openDisk({ snapshotId: s.id, diskIndex: 0, transport: 'directsan', proxyId: 'px-phys', idempotencyKey: key() })).rejects.toMatchObject({ code: 'UNREACHABLE' });
    expect(await readAll(lab, s.id, 1, 'nbd', null)).toBe(await oracle(s.id, 1));
    await lab.hypervisor.removeSnapshot({ snapshotId: s.id, idempotencyKey: key() });
  });

  it('changed-block tracking reports exactly the written 64 KiB regions since a change id', async () => {
    const s1 = await snap('wt');
    await lab.hypervisor.removeSnapshot({ snapshotId: s1.id, idempotencyKey: key() });
    await lab.control.guestWrite('wt', 0, 2 * MiB + 8192, pattern(4, 4096));
    await lab.control.guestWrite('wt', 0, 5 * MiB, pattern(5, 128 * 1024));
    const s2 = await snap('wt');
    const c = await lab.hypervisor.queryChangedExtents({ snapshotId: s2.id, diskIndex: 0, sinceChangeId: s1.disks[0]!.changeId });
    expect(c.fullReadRequired).toBe(false);
    expect(c.extents).toEqual([
      [2 * MiB, 64 * 1024],
      [5 * MiB, 128 * 1024],
    ]);
    const other = await lab.hypervisor.queryChangedExtents({ snapshotId: s2.id, diskIndex: 1, sinceChangeId: s1.disks[1]!.changeId });
    expect(other.extents).toEqual([]);
    await lab.hypervisor.removeSnapshot({ snapshotId: s2.id, idempotencyKey: key() });
  });

  it('snapshots are idempotent by key; redo logs grow while open; removal records lifetime, redo, passes and stun', async () => {
    const k = key();
    const a = await lab.hypervisor.createSnapshot({ vmId: 'vm-wt', name: 'idem', quiesce: false, idempotencyKey: k });
    const b = await lab.hypervisor.createSnapshot({ vmId: 'vm-wt', name: 'idem', quiesce: false, idempotencyKey: k });
    expect(b.id).toBe(a.id);
    await expect(snap('wt')).rejects.toMatchObject({ code: 'CONFLICT' });
    await lab.control.guestWrite('wt', 0, 3 * MiB, pattern(6, 512 * 1024));
    expect((await lab.hypervisor.listSnapshots('vm-wt'))[0]!.disks[0]!.redoBytes).toBe(512 * 1024);
    // the base file does not change while the snapshot is open
    expect(lab.lab.vm('vm-wt').disks[0]!.readBase(3 * MiB, 4096).equals(pattern(6, 4096))).toBe(false);
    const r1 = await lab.hypervisor.removeSnapshot({ snapshotId: a.id, idempotencyKey: key() });
    const r2 = await lab.hypervisor.removeSnapshot({ snapshotId: a.id, idempotencyKey: key() });
    expect(r1).toMatchObject({ removed: true, redoBytes: 512 * 1024, consolidationPasses: 1 });
    expect(r1.stunMs).toBeGreaterThan(0);
    expect(r2).toEqual(r1);
    // consolidated into the base
    expect(lab.lab.vm('vm-wt').disks[0]!.readBase(3 * MiB, 4096).equals(pattern(6, 4096))).toBe(true);
  });

  it('a stun longer than the heartbeat tolerance fails the cluster over; a raised threshold prevents it', async () => {
    const fc = async () => (await lab.guest.listFailoverClusters())[0]!;
    expect((await fc()).activeVmId).toBe('vm-sql-a');
    await lab.guest.setHeartbeat({ clusterId: 'dag', heartbeatDelayMs: 100, heartbeatThreshold: 1, idempotencyKey: key() });
    const s = await snap('sql-a');
    await lab.control.guestWrite('sql-a', 0, 2 * MiB, pattern(7, 900 * 1024)); // < 1 MiB: one stunned pass, ~220 ms at 4 MiB/s
    const r = await lab.hypervisor.removeSnapshot({ snapshotId: s.id, idempotencyKey: key() });
    expect(r.stunMs).toBeGreaterThan(100);
    expect((await fc()).activeVmId).toBe('vm-sql-b');
    const ev = (await lab.control.events({ kinds: ['failover'] }))[0]!;
    expect(ev.data).toMatchObject({ cause: 'snapshot-stun', from: 'vm-sql-a', to: 'vm-sql-b' });
    expect((await lab.control.metrics()).failovers).toBe(1);

    // now sql-b is active; with a high threshold the same stun is absorbed
    await lab.guest.setHeartbeat({ clusterId: 'dag', heartbeatDelayMs: 100, heartbeatThreshold: 100, idempotencyKey: key() });
    const s2 = await snap('sql-b');
    await lab.control.guestWrite('sql-b', 0, 2 * MiB, pattern(8, 900 * 1024));
    await lab.hypervisor.removeSnapshot({ snapshotId: s2.id, idempotencyKey: key() });
    expect((await fc()).activeVmId).toBe('vm-sql-b');
    expect((await lab.control.metrics()).failovers).toBe(1);
  });

  it('a big delta of a quiet guest is merged in a pass first, then a short stunned pass', async () => {
    const s = await snap('sql-b');
    await lab.control.guestWrite('sql-b', 0, 2 * MiB, pattern(9, 6 * MiB));
    const r = await lab.hypervisor.removeSnapshot({ snapshotId: s.id, idempotencyKey: key() });
    expect(r.consolidationPasses).toBe(2);
    expect(r.stunMs).toBeLessThan(100);
  });

  it('quiesce: application-consistent with tools; without, a required quiesce fails and a preferred one falls back', async () => {
    const ok = await snap('wt', true);
    expect(ok.consistency).toBe('application');
    await lab.hypervisor.removeSnapshot({ snapshotId: ok.id, idempotencyKey: key() });
    await expect(lab.hypervisor.createSnapshot({ vmId: 'vm-notools', name: 'q', quiesce: true, requireQuiesce: true, idempotencyKey: key() })).rejects.toMatchObject({ code: 'QUIESCE_FAILED' });
    expect(await lab.hypervisor.listSnapshots('vm-notools')).toEqual([]);
    const fb = await snap('notools', true);
    expect(fb).toMatchObject({ consistency: 'crash', quiesceError: expect.stringMatching(/tools/) });
    await lab.hypervisor.removeSnapshot({ snapshotId: fb.id, idempotencyKey: key() });
    await lab.control.injectFault({ kind: 'quiesce-failure', vm: 'wt', count: 1 });
    expect((await snap('wt', true)).consistency).toBe('crash');
    for (const x of await lab.hypervisor.listSnapshots('vm-wt')) await lab.hypervisor.removeSnapshot({ snapshotId: x.id, idempotencyKey: key() });
  });

  it('DRS moves destage first; a move with an open snapshot is a risky move; pinned VMs stay', async () => {
    await lab.control.guestWrite('wb1', 0, 4 * MiB, pattern(10, 64 * 1024));
    await lab.hypervisor.setDrsPin({ vmId: 'vm-wb1', pinned: true, owner: 'test', idempotencyKey: key() });
    await lab.control.drsMove('cl', 0.3, 0);
    expect((await lab.hypervisor.getVm('vm-wb1')).hostId).toBe('h1');
    await lab.hypervisor.setDrsPin({ vmId: 'vm-wb1', pinned: false, owner: 'test', idempotencyKey: key() });
    const s = await snap('wb1');
    // Only wb1 is movable on this pass pick: choose it explicitly by making the others pinned.
    for (const v of ['wb0', 'wt', 'sql-a', 'sql-b', 'notools']) await lab.hypervisor.setDrsPin({ vmId: `vm-${v}`, pinned: true, owner: 'test', idempotencyKey: key() });
    await lab.control.drsMove('cl', 0, 0);
    expect((await lab.hypervisor.getVm('vm-wb1')).hostId).toBe('h2');
    expect((await lab.cache.dirtyBytes('vm-wb1')).total).toBe(0);
    expect((await lab.control.metrics()).riskyMoves).toBe(1);
    expect(await readAll(lab, s.id, 0, 'nbd', null)).toBe(await oracle(s.id));
    await lab.hypervisor.removeSnapshot({ snapshotId: s.id, idempotencyKey: key() });
    for (const v of ['wb0', 'wt', 'sql-a', 'sql-b', 'notools']) await lab.hypervisor.setDrsPin({ vmId: `vm-${v}`, pinned: false, owner: 'test', idempotencyKey: key() });
  });

  it('a host crash loses the dirty data of write-back VMs without peers, keeps it with peers, and resets CBT', async () => {
    const a = pattern(11, 64 * 1024);
    const b = pattern(12, 64 * 1024);
    await lab.control.guestWrite('wb0', 0, 10 * MiB, a);
    const wb1Host = (await lab.hypervisor.getVm('vm-wb1')).hostId;
    await lab.control.guestWrite('wb1', 0, 10 * MiB, b);
    const before = await snap('wb0');
    await lab.hypervisor.removeSnapshot({ snapshotId: before.id, idempotencyKey: key() });
    await lab.control.injectFault({ kind: 'host-crash', hostId: 'h1', downMs: 5_000 });
    expect((await lab.control.guestRead('wb0', 0, 10 * MiB, a.length)).equals(a)).toBe(false);
    if (wb1Host === 'h1') expect((await lab.control.guestRead('wb1', 0, 10 * MiB, b.length)).equals(b)).toBe(true);
    else expect((await lab.control.guestRead('wb1', 0, 10 * MiB, b.length)).equals(b)).toBe(true);
    const kinds = (await lab.control.events({ limit: 50 })).map((e) => e.kind);
    expect(kinds).toContain('dirty-data-lost');
    expect(kinds).toContain('host-crash');
    expect((await lab.control.metrics()).lostDirtyBytes).toBeGreaterThan(0);
    const after = await snap('wb0');
    const c = await lab.hypervisor.queryChangedExtents({ snapshotId: after.id, diskIndex: 0, sinceChangeId: before.disks[0]!.changeId });
    expect(c).toMatchObject({ fullReadRequired: true, reason: expect.stringMatching(/reset/) });
    await lab.hypervisor.removeSnapshot({ snapshotId: after.id, idempotencyKey: key() });
  });

  it('the same seed makes the same chaos scenario; another seed a different one', () => {
    expect(chaosScenario(11, 30)).toEqual(chaosScenario(11, 30));
    expect(chaosScenario(12, 30).schedule).not.toEqual(chaosScenario(11, 30).schedule);
    const kinds = new Set(chaosScenario(11, 30).schedule.map((e) => e.kind));
    for (const k of ['drs-move', 'host-crash', 'quiesce-failure', 'cbt-reset', 'slow-destage', 'burst-writes']) expect(kinds).toContain(k);
  });
});

describe('consolidation of a guest that writes faster than the datastore merges', () => {
  it('takes every pass and ends in a long forced stun', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-lab-stun-'));
    const { realClock } = await import('@/server/lib/clock');
    const lab = await createLab({ dir, clock: realClock, logger: silentLogger, seed: 5, topology: TEST_TOPOLOGY, workloads: false });
    try {
      const s = await lab.hypervisor.createSnapshot({ vmId: 'vm-wt', name: 'busy', quiesce: false, idempotencyKey: 'busy' });
      await lab.control.guestWrite('wt', 0, 1 * MiB, pattern(20, 2 * MiB));
      let writing = true;
      let off = 4 * MiB;
      const writer = (async () => {
        // ~16 MiB/s against a 4 MiB/s consolidation (a loaded machine halves it and it still outruns)
        while (writing) {
          await lab.control.guestWrite('wt', 0, off, pattern(off, 128 * 1024)).catch(() => undefined);
          off = off + 128 * 1024 >= 15 * MiB ? 4 * MiB : off + 128 * 1024;
          await new Promise((r) => setTimeout(r, 8));
        }
      })();
      const r = await lab.hypervisor.removeSnapshot({ snapshotId: s.id, idempotencyKey: 'busy-rm' });
      writing = false;
      await writer;
      expect(r.consolidationPasses).toBe(3);
      expect(r.stunMs).toBeGreaterThan(500);
    } finally {
      await lab.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('lab persistence across a kill -9', () => {
  it('reopening finds snapshots, redo logs, dirty cache data and oracle records', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-lab-crash-'));
    try {
      const script = `
        import { createLab } from '@/server/connectors/lab';
        import { realClock } from '@/server/lib/clock';
        import { silentLogger } from '@/server/lib/logger';
        const topo = JSON.parse(process.env.TOPO);
        const lab = await createLab({ dir: process.env.DIR, clock: realClock, logger: silentLogger, seed: 3, topology: topo, workloads: false });
        const w = Buffer.alloc(65536, 7);
        await lab.control.guestWrite('wb0', 0, 4 << 20, w);
        const s = await lab.hypervisor.createSnapshot({ vmId: 'vm-wb0', name: 'x', quiesce: false, idempotencyKey: 'crash-key' });
        await lab.control.guestWrite('wb0', 0, 6 << 20, Buffer.alloc(65536, 9));
        process.stdout.write(JSON.stringify({ id: s.id, oracle: (await lab.control.oracle(s.id, 0)).digest }) + '\\n');
        process.kill(process.pid, 'SIGKILL');
      `;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: path.resolve(import.meta.dirname, '../../..'),
        env: { ...process.env, DIR: dir, TOPO: JSON.stringify(TEST_TOPOLOGY) },
        encoding: 'utf8',
      });
      expect(r.signal).toBe('SIGKILL');
      const { id, oracle } = JSON.parse(r.stdout.trim()) as { id: string; oracle: string };
      const lab = await createLab({ dir, clock: createScaledClock(50), logger: silentLogger, seed: 3, topology: TEST_TOPOLOGY, workloads: false });
      try {
        const snaps = await lab.hypervisor.listSnapshots('vm-wb0');
        expect(snaps.map((s) => s.id)).toEqual([id]);
        expect((await lab.hypervisor.findSnapshotByKey('crash-key'))?.id).toBe(id);
        expect((await lab.control.oracle(id, 0))?.digest).toBe(oracle);
        // the dirty write-back data (flash is persistent) and the redo log survived
        expect((await lab.control.guestRead('wb0', 0, 4 << 20, 65536)).equals(Buffer.alloc(65536, 7))).toBe(true);
        expect((await lab.control.guestRead('wb0', 0, 6 << 20, 65536)).equals(Buffer.alloc(65536, 9))).toBe(true);
        // the frozen image is still readable and matches the oracle
        expect(await readAll(lab, id, 0, 'nbd', null)).toBe(oracle);
        // an unclean restart resets change tracking (writes may have been missed)
        expect((await lab.control.events({ kinds: ['cbt-reset'] })).length).toBeGreaterThan(0);
        await lab.hypervisor.removeSnapshot({ snapshotId: id, idempotencyKey: 'rm' });
        expect(await lab.hypervisor.listSnapshots()).toEqual([]);
      } finally {
        await lab.stop();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

