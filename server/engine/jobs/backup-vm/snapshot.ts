import type { SnapshotInfo } from '@/server/connectors/types';
import { isConnectorError } from '@/server/connectors/types';
import { defineStep, stepResult } from '../../define';
import { NonRetryableError } from '../../retry';
import type { BackupVmJobInput } from '../schemas';
import type { PlanResult } from './plan';
import type { PrecheckResult } from './precheck';
import { removeSnapshotGuarded } from './snapshot-removal';

export interface SnapshotResult {
  [k: string]: unknown;
  snapshot: SnapshotInfo;
}

export function snapshotName(jobId: string): string {
  return `quiesce-${jobId}`;
}

/** Quiesced when the policy asks and the guest can; records the consistency level. Compensation removes it. */
export const snapshot = defineStep<BackupVmJobInput>({
  name: 'snapshot',
  compensateIfStarted: true,
  async run(ctx): Promise<SnapshotResult> {
    const p = stepResult<PlanResult>(ctx.results, 'plan');
    const { hypervisor } = ctx.deps.connectors;
    const mode = p.settings.quiesce;
    let snap: SnapshotInfo;
    try {
      snap = await hypervisor.createSnapshot({
        vmId: p.vm.id,
        name: snapshotName(ctx.jobId),
        description: `Quiesce backup job ${ctx.jobId}`,
        quiesce: mode !== 'off',
        requireQuiesce: mode === 'required',
        idempotencyKey: ctx.idempotencyKey,
      });
    } catch (e) {
      if (isConnectorError(e, 'QUIESCE_FAILED')) throw new NonRetryableError(`Quiesce is required by the policy and failed: ${e.message}`, 'QUIESCE_FAILED');
      throw e;
    }
    if (snap.quiesceError) await ctx.log('warn', `Quiesce failed (${snap.quiesceError}); the snapshot is crash-consistent`, { consistency: snap.consistency });
    await ctx.log('info', `Snapshot ${snap.id} taken (${snap.consistency}-consistent)`, { snapshotId: snap.id, consistency: snap.consistency });
    return { snapshot: snap };
  },
  async compensate(ctx, result) {
    const { hypervisor } = ctx.deps.connectors;
    const key = `${ctx.jobId}:snapshot`;
    const snap = (result as SnapshotResult | null)?.snapshot ?? (await hypervisor.findSnapshotByKey(key));
    if (!snap) return { removed: false, reason: 'no snapshot was created' };
    const p = stepResult<PlanResult>(ctx.results, 'plan');
    const removal = await removeSnapshotGuarded(ctx, p, snap.id, `${ctx.jobId}:snapshot:compensate`, ctx.results.precheck ? stepResult<PrecheckResult>(ctx.results, 'precheck').predictedStunMs : null);
    return { ...removal };
  },
});
