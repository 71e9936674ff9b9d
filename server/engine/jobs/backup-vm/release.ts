import type { SnapshotRemoval } from '@/server/connectors/types';
import { defineStep, stepResult } from '../../define';
import type { BackupVmJobInput } from '../schemas';
import type { SnapshotResult } from './snapshot';

export interface ReleaseResult {
  [k: string]: unknown;
  removal: SnapshotRemoval;
}

/** Remove (consolidate) the snapshot and record its lifetime, redo-log size and stun. */
export const release = defineStep<BackupVmJobInput>({
  name: 'release',
  retry: { maxAttempts: 5 },
  async run(ctx): Promise<ReleaseResult> {
    const { snapshot: snap } = stepResult<SnapshotResult>(ctx.results, 'snapshot');
    const removal = await ctx.deps.connectors.hypervisor.removeSnapshot({ snapshotId: snap.id, idempotencyKey: ctx.idempotencyKey });
    await ctx.log('info', `Snapshot removed after ${Math.round(removal.lifetimeMs / 1000)} s: redo log ${removal.redoBytes} bytes, ${removal.consolidationPasses} consolidation passes, stun ${removal.stunMs} ms`, { ...removal });
    return { removal };
  },
});
