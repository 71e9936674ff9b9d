import type { SnapshotRemoval } from '@/server/connectors/types';
import { defineStep, stepResult } from '../../define';
import type { BackupVmJobInput } from '../schemas';
import type { PlanResult } from './plan';
import type { PrecheckResult } from './precheck';
import type { SnapshotResult } from './snapshot';
import { removeSnapshotGuarded } from './snapshot-removal';

export interface ReleaseResult {
  [k: string]: unknown;
  removal: SnapshotRemoval & { heartbeatRaised: boolean };
}

/** Remove (consolidate) the snapshot and record its lifetime, redo-log size and stun. */
export const release = defineStep<BackupVmJobInput>({
  name: 'release',
  retry: { maxAttempts: 5 },
  async run(ctx): Promise<ReleaseResult> {
    const { snapshot: snap } = stepResult<SnapshotResult>(ctx.results, 'snapshot');
    const p = stepResult<PlanResult>(ctx.results, 'plan');
    const pre = stepResult<PrecheckResult>(ctx.results, 'precheck');
    const removal = await removeSnapshotGuarded(ctx, p, snap.id, ctx.idempotencyKey, pre.predictedStunMs);
    await ctx.log('info', `Snapshot removed after ${Math.round(removal.lifetimeMs / 1000)} s: redo log ${removal.redoBytes} bytes, ${removal.consolidationPasses} consolidation passes, stun ${removal.stunMs} ms`, { ...removal });
    return { removal };
  },
});
