import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobSteps, restorePoints } from '@/db/schema';
import type { LabHandleFull, TopologyInput } from '@/server/connectors/lab';
import { TEST_TOPOLOGY } from '@/server/connectors/lab/test-topology';
import { createScaledClock } from '@/server/lib/clock';
import { PolicySettingsSchema } from '@/server/policies/schemas';
import type { Runtime } from '@/server/runtime';
import { scratchDir, startLabTestRuntime } from '@/test/runtime-fixture';
import { enqueueJob, waitForJob } from './client';

/**
 * A host crash while a write-back VM without cache peers is read over NBD takes dirty data of the
 * frozen image with it: what the proxy read is no longer what the guest saw. The engine writes no
 * restore point for it, removes the snapshot, and the next backup is whole and consistent.
 */
const topology: TopologyInput = {
  ...TEST_TOPOLOGY,
  vms: TEST_TOPOLOGY.vms.map((v) => (v.name === 'wb0' ? { ...v, workload: { rateKBps: 256, pattern: 'random' as const, blockKiB: 16 } } : v)),
  clusters: TEST_TOPOLOGY.clusters.map((c) => ({ ...c, hosts: c.hosts.map((h) => ({ ...h, destageDelaySec: 3600 })) })),
};

describe('a host crash during the read of a snapshot', () => {
  const scratch = scratchDir('quiesce-lost-writes-');
  let rt: Runtime;
  let lab: LabHandleFull;
  const clock = createScaledClock(10);

  beforeAll(async () => {
    ({ rt, lab } = await startLabTestRuntime(scratch.dir, { topology, seed: 5, clock }));
  });
  afterAll(async () => {
    await rt.close();
    scratch.remove();
  });

  it('writes no restore point from a snapshot that lost cached writes, leaves nothing behind, and the next backup is consistent', async () => {
    const unit = rt.bootstrapReport!.defaultStorageUnitId;
    const { id: policyId } = await rt.caller({ kind: 'cli' }).policies.create({
      name: 'nbd',
      schedule: '0 0 1 1 *',
      enabled: false,
      selection: { names: ['wb0'] },
      storageUnitId: unit,
      settings: PolicySettingsSchema.parse({ transportOrder: ['nbd'] }),
    });
    const backup = async () => {
      const { job } = await enqueueJob(rt.database.db, clock, { type: 'backup.vm', input: { vmId: 'vm-wb0', storageUnitId: unit, policyId }, vmId: 'vm-wb0', vmName: 'wb0', policyId });
      rt.runner!.wake();
      return job.id;
    };

    await clock.sleep(20_000);
    expect((await lab.cache.dirtyBytes('vm-wb0')).total).toBeGreaterThan(0);
    // A slow NBD path keeps the transfer running long enough to crash the host in the middle of it.
    await lab.control.injectFault({ kind: 'slow-network', hostId: 'h1', factor: 0.0005, forMs: 3_600_000 });
    const id = await backup();
    await expect
      .poll(async () => (await rt.database.db.select().from(jobSteps).where(eq(jobSteps.jobId, id))).some((s) => s.name === 'transfer' && s.status === 'running'), { timeout: 60_000, interval: 100 })
      .toBe(true);
    await lab.control.injectFault({ kind: 'host-crash', hostId: 'h1', downMs: 5_000 });
    expect((await lab.control.metrics()).lostDirtyBytes).toBeGreaterThan(0);

    const failed = await waitForJob(rt.database.db, id, { timeoutMs: 120_000 });
    expect(failed.status).toBe('failed');
    expect(failed.error?.message).toMatch(/crashed while its snapshot was read/);
    expect(await rt.database.db.select().from(restorePoints).where(eq(restorePoints.jobId, id))).toEqual([]);
    const repo = await rt.deps.storage.repository(unit);
    expect((await repo.listPoints()).map((p) => p.id)).not.toContain(`rp-${id}`);
    const m = await lab.control.metrics();
    expect(m.leftoverSnapshots).toBe(0);
    expect(m.drsPinsLeft).toBe(0);
    expect(m.vmsWithWrongCachePolicy).toBe(0);

    // The guest lives on (restarted on h2); its next backup is a full read (CBT was reset) and matches the oracle.
    const again = await waitForJob(rt.database.db, await backup(), { timeoutMs: 120_000 });
    expect(again.status, JSON.stringify(again.error)).toBe('succeeded');
    const result = again.result as { restorePointId: string; full: boolean };
    expect(result.full).toBe(true);
    const { job: v } = await enqueueJob(rt.database.db, clock, { type: 'restore.verify', input: { pointId: result.restorePointId } });
    rt.runner!.wake();
    expect(((await waitForJob(rt.database.db, v.id, { timeoutMs: 60_000 })).result as { consistent: boolean }).consistent).toBe(true);
  });
});
