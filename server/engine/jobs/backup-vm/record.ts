import { restorePoints } from '@/db/schema';
import { defineStep, stepResult } from '../../define';
import type { BackupVmJobInput } from '../schemas';
import type { LeaseResult } from './lease';
import type { PlanResult } from './plan';
import type { SnapshotResult } from './snapshot';
import type { TransferResult } from './transfer';

/** The restore point becomes visible in the catalog (idempotent: the id is the job's). */
export const record = defineStep<BackupVmJobInput>({
  name: 'record',
  async run(ctx) {
    const p = stepResult<PlanResult>(ctx.results, 'plan');
    const { snapshot: snap } = stepResult<SnapshotResult>(ctx.results, 'snapshot');
    const t = stepResult<TransferResult>(ctx.results, 'transfer');
    const l = stepResult<LeaseResult>(ctx.results, 'lease');
    await ctx.db
      .insert(restorePoints)
      .values({
        id: t.pointId,
        series: p.vm.uuid,
        vmId: p.vm.id,
        vmUuid: p.vm.uuid,
        vmName: p.vm.name,
        policyId: p.policyId,
        jobId: ctx.jobId,
        storageUnitId: p.storageUnitId,
        createdAt: new Date(snap.createdAt),
        consistency: snap.consistency,
        snapshotId: snap.id,
        transport: l.transport,
        proxyId: l.proxyId,
        full: t.full,
        disks: t.disks.map((d) => ({
          index: d.index,
          label: p.vm.disks.find((x) => x.index === d.index)?.label ?? `disk${d.index}`,
          sizeBytes: d.sizeBytes,
          changeId: d.changeId,
          bytesRead: d.bytesRead,
          full: d.full,
        })),
        logicalBytes: t.logicalBytes,
        bytesRead: t.bytesRead,
        storedBytesAdded: t.storedBytesAdded,
      })
      .onConflictDoNothing();
    return { restorePointId: t.pointId };
  },
});
