import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, environmentOverrides } from '@/db/schema';
import type { LabHandleFull, TopologyInput } from '@/server/connectors/lab';
import { TEST_TOPOLOGY } from '@/server/connectors/lab/test-topology';
import { createScaledClock } from '@/server/lib/clock';
import { PolicySettingsSchema, type PolicySettings } from '@/server/policies/schemas';
import type { Runtime } from '@/server/runtime';
import { scratchDir, startLabTestRuntime } from '@/test/runtime-fixture';
import { enqueueJob, getJobRow, requestCancel, waitForJob } from './client';
import { sweepOrphans } from './orphans';

/**
 * The cache-aware saga against the lab: the write-back barrier is short and always undone, the
 * blacklist and stun guards refuse what would be inconsistent or unsafe, and nothing is left behind
 * after failures, cancellations and crashes.
 */
const topology: TopologyInput = {
  ...TEST_TOPOLOGY,
  vms: TEST_TOPOLOGY.vms.map((v) => ({ ...v, workload: { rateKBps: 256, pattern: 'random' as const, blockKiB: 16 } })),
  clusters: TEST_TOPOLOGY.clusters.map((c) => ({ ...c, hosts: c.hosts.map((h) => ({ ...h, destageMBps: 1, destageDelaySec: 3600 })) })),
};

describe('backup saga against the lab', () => {
  const scratch = scratchDir('quiesce-saga-');
  let rt: Runtime;
  let lab: LabHandleFull;
  const clock = createScaledClock(10);

  beforeAll(async () => {
    ({ rt, lab } = await startLabTestRuntime(scratch.dir, { topology, seed: 9, clock }));
  });
  afterAll(async () => {
    await rt.close();
    scratch.remove();
  });

  const policyWith = async (name: string, s: Partial<PolicySettings>) => {
    const p = await rt.caller({ kind: 'cli' }).policies.create({
      name,
      schedule: '0 0 1 1 *',
      enabled: false,
      selection: { namePattern: '*' },
      storageUnitId: rt.bootstrapReport!.defaultStorageUnitId,
      settings: PolicySettingsSchema.parse(s),
    });
    return p.id;
  };
  const backup = async (vm: string, policyId: string, coordination = true) => {
    const { job } = await enqueueJob(rt.database.db, clock, { type: 'backup.vm', input: { vmId: `vm-${vm}`, storageUnitId: rt.bootstrapReport!.defaultStorageUnitId, policyId, coordination }, vmId: `vm-${vm}`, vmName: vm, policyId });
    rt.runner!.wake();
    return job.id;
  };
  const verify = async (pointId: string) => {
    const { job } = await enqueueJob(rt.database.db, clock, { type: 'restore.verify', input: { pointId } });
    rt.runner!.wake();
    const done = await waitForJob(rt.database.db, job.id, { timeoutMs: 60_000 });
    return (done.result as { consistent: boolean }).consistent;
  };
  const nothingLeft = async () => {
    const m = await lab.control.metrics();
    expect(m.leftoverSnapshots).toBe(0);
    expect(m.drsPinsLeft).toBe(0);
    expect(m.vmsWithWrongCachePolicy).toBe(0);
    const open = await rt.database.db.select().from(environmentOverrides);
    expect(open.filter((o) => o.restoredAt === null)).toEqual([]);
  };

  it('DirectSAN of a write-back VM: write-through only until the snapshot exists, consistent, everything restored', async () => {
    const pid = await policyWith('directsan', { transportOrder: ['directsan'] });
    const windows: Array<{ window: number; destage: number }> = [];
    for (let i = 0; i < 3; i++) {
      await clock.sleep(20_000); // let the guest make dirty data
      expect((await lab.cache.dirtyBytes('vm-wb0')).total).toBeGreaterThan(0);
      const id = await backup('wb0', pid);
      const job = await waitForJob(rt.database.db, id, { timeoutMs: 120_000 });
      expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
      const r = job.result as { writeBackBarrier: boolean; writeThroughWindowMs: number; destageMs: number; transferSeconds: number; restorePointId: string; transport: string };
      expect(r.transport).toBe('directsan');
      expect(r.writeBackBarrier).toBe(true);
      windows.push({ window: r.writeThroughWindowMs, destage: r.destageMs });
      expect(await verify(r.restorePointId)).toBe(true);
      expect(await lab.cache.getPolicy('vm-wb0')).toEqual({ mode: 'write-back', peers: 0 });
    }
    // The median window is the destage plus a few seconds, not the whole transfer.
    const sorted = [...windows].sort((a, b) => a.window - b.window);
    const median = sorted[1]!;
    expect(median.window).toBeLessThan(median.destage + 5_000);
    const audit = await rt.database.db.select().from(auditLog).where(eq(auditLog.action, 'cache.setPolicy'));
    expect(audit.length).toBeGreaterThanOrEqual(6);
    await nothingLeft();
  });

  it('the same backup without coordination reads stale data: the oracle catches it', async () => {
    const pid = await policyWith('careless', { transportOrder: ['directsan'] });
    await clock.sleep(20_000);
    const id = await backup('wb0', pid, false);
    const job = await waitForJob(rt.database.db, id, { timeoutMs: 120_000 });
    expect(job.status).toBe('succeeded');
    expect(await verify((job.result as { restorePointId: string }).restorePointId)).toBe(false);
  });

  it('a write-back VM that cannot get clean in time fails with its policy restored', async () => {
    const pid = await policyWith('impatient', { transportOrder: ['directsan'], writeBackTimeoutSec: 5 });
    await lab.control.injectFault({ kind: 'slow-destage', hostId: 'h1', factor: 0.01, forMs: 600_000 });
    await clock.sleep(20_000);
    const id = await backup('wb0', pid);
    const job = await waitForJob(rt.database.db, id, { timeoutMs: 120_000 });
    expect(job.status).toBe('failed');
    expect(job.error?.message).toMatch(/dirty bytes after 5 s/);
    expect(await lab.cache.getPolicy('vm-wb0')).toEqual({ mode: 'write-back', peers: 0 });
    await lab.control.injectFault({ kind: 'slow-destage', hostId: 'h1', factor: 1, forMs: 1_000 });
    await nothingLeft();
  });

  it('HotAdd of a write-back VM needs the proxy on the blacklist, or the policy adds it (audited)', async () => {
    const strict = await policyWith('hotadd-strict', { transportOrder: ['hotadd'] });
    const id = await backup('wb1', strict);
    const job = await waitForJob(rt.database.db, id, { timeoutMs: 120_000 });
    expect(job.status).toBe('failed');
    expect(job.error?.message).toMatch(/not on the cache blacklist/);
    const allowed = await policyWith('hotadd-allowed', { transportOrder: ['hotadd'], allowBlacklistAdd: true });
    const id2 = await backup('wb1', allowed);
    const job2 = await waitForJob(rt.database.db, id2, { timeoutMs: 120_000 });
    expect(job2.status, JSON.stringify(job2.error)).toBe('succeeded');
    expect(await verify((job2.result as { restorePointId: string }).restorePointId)).toBe(true);
    const added = await rt.database.db.select().from(auditLog).where(eq(auditLog.action, 'blacklist.add'));
    expect(added.length).toBe(1);
    await nothingLeft();
  });

  it('the stun guard refuses a cluster member whose consolidation would fail the cluster over', async () => {
    const pid = await policyWith('stun', { transportOrder: ['nbd'] });
    await lab.guest.setHeartbeat({ clusterId: 'dag', heartbeatDelayMs: 100, heartbeatThreshold: 1, idempotencyKey: 'tight' });
    await lab.control.injectFault({ kind: 'burst-writes', vm: 'sql-a', factor: 200, forMs: 600_000 });
    const id = await backup('sql-a', pid);
    const job = await waitForJob(rt.database.db, id, { timeoutMs: 120_000 });
    expect(job.status).toBe('failed');
    expect(job.error?.message).toMatch(/predicted consolidation stun/);
    expect((await lab.control.metrics()).failovers).toBe(0);
    await lab.control.injectFault({ kind: 'burst-writes', vm: 'sql-a', factor: 1, forMs: 1_000 });
    await lab.guest.setHeartbeat({ clusterId: 'dag', heartbeatDelayMs: 1000, heartbeatThreshold: 5, idempotencyKey: 'normal' });
    await nothingLeft();
  });

  it('a cancelled backup compensates: no snapshot, no pin, the cache policy back', async () => {
    const pid = await policyWith('cancel', { transportOrder: ['directsan'], writeBackTimeoutSec: 600 });
    await lab.control.injectFault({ kind: 'slow-destage', hostId: 'h1', factor: 0.01, forMs: 600_000 });
    await clock.sleep(20_000);
    const id = await backup('wb0', pid);
    await expect.poll(async () => (await lab.cache.getPolicy('vm-wb0')).mode, { timeout: 60_000 }).toBe('write-through');
    await requestCancel(rt.database.db, clock, id);
    const job = await waitForJob(rt.database.db, id, { timeoutMs: 120_000 });
    expect(job.status).toBe('cancelled');
    await lab.control.injectFault({ kind: 'slow-destage', hostId: 'h1', factor: 1, forMs: 1_000 });
    await nothingLeft();
  });

  it('after an engine crash mid-barrier the orphan sweep puts the cache policy back', async () => {
    const pid = await policyWith('crash', { transportOrder: ['directsan'], writeBackTimeoutSec: 600 });
    await lab.control.injectFault({ kind: 'slow-destage', hostId: 'h1', factor: 0.01, forMs: 600_000 });
    await clock.sleep(20_000);
    const id = await backup('wb0', pid);
    await expect.poll(async () => (await lab.cache.getPolicy('vm-wb0')).mode, { timeout: 60_000 }).toBe('write-through');
    await rt.runner!.crash();
    // The job's engine is dead; nobody resumes it here. Mark it failed as an operator would, then sweep.
    await rt.database.db.update((await import('@/db/schema')).jobs).set({ status: 'failed', lockedBy: null }).where(eq((await import('@/db/schema')).jobs.id, id));
    const report = await sweepOrphans(rt.serviceContext({ kind: 'system', component: 'test' }));
    expect(report.overridesRestored.map((o) => o.kind)).toContain('cache-policy');
    expect(await lab.cache.getPolicy('vm-wb0')).toEqual({ mode: 'write-back', peers: 0 });
    expect((await getJobRow(rt.database.db, id)).status).toBe('failed');
    await lab.control.injectFault({ kind: 'slow-destage', hostId: 'h1', factor: 1, forMs: 1_000 });
    await nothingLeft();
  });
});

