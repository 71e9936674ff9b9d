import type { FailoverClusterInfo, SnapshotRemoval } from '@/server/connectors/types';
import { recordAudit } from '@/server/audit/record';
import type { StepContext } from '../../define';
import { findOverride, markRestored, recordOverride } from '../../overrides';
import type { BackupVmJobInput } from '../schemas';
import type { PlanResult } from './plan';

const MAX_THRESHOLD = 120;

export async function failoverClusterOf(ctx: StepContext<BackupVmJobInput>, p: PlanResult): Promise<FailoverClusterInfo | null> {
  if (!p.vm.failoverClusterId) return null;
  const clusters = await ctx.deps.connectors.guest.listFailoverClusters();
  return clusters.find((c) => c.id === p.vm.failoverClusterId) ?? null;
}

/** The threshold that keeps a stun of `stunMs` inside the tolerance with a 2× margin. */
export function raisedThreshold(c: Pick<FailoverClusterInfo, 'heartbeatDelayMs' | 'heartbeatThreshold'>, predictedStunMs: number | null): number {
  const byPrediction = predictedStunMs === null ? c.heartbeatThreshold * 4 : Math.ceil((predictedStunMs * 2) / c.heartbeatDelayMs) + 1;
  return Math.min(MAX_THRESHOLD, Math.max(c.heartbeatThreshold * 2, byPrediction));
}

async function restoreHeartbeat(ctx: StepContext<BackupVmJobInput>, clusterId: string, why: string) {
  const ov = await findOverride(ctx.db, 'heartbeat', clusterId, ctx.jobId);
  if (!ov || ov.restoredAt) return false;
  const orig = ov.original as { heartbeatDelayMs: number; heartbeatThreshold: number };
  await ctx.deps.connectors.guest.setHeartbeat({ clusterId, heartbeatDelayMs: orig.heartbeatDelayMs, heartbeatThreshold: orig.heartbeatThreshold, idempotencyKey: `${ctx.jobId}:heartbeat:restore` });
  await markRestored(ctx.db, ov.id, `job ${ctx.jobId}`, ctx.clock.now());
  await recordAudit(ctx.service, { action: 'cluster.setHeartbeat', targetKind: 'failoverCluster', targetId: clusterId, targetName: ov.targetName, details: { to: orig, reason: why } });
  return true;
}

/**
 * Removes (consolidates) the snapshot. For a failover-cluster member whose policy says so, the
 * cluster's heartbeat threshold is raised for the consolidation and always put back after — the
 * fix admins apply by hand, automated and undone even after a crash (the override is recorded first).
 */
export async function removeSnapshotGuarded(ctx: StepContext<BackupVmJobInput>, p: PlanResult, snapshotId: string, key: string, predictedStunMs: number | null): Promise<SnapshotRemoval & { heartbeatRaised: boolean }> {
  const cluster = p.coordination && p.settings.raiseHeartbeatThreshold ? await failoverClusterOf(ctx, p) : null;
  let raised = false;
  if (cluster) {
    const ov = await recordOverride(ctx.db, {
      kind: 'heartbeat',
      targetId: cluster.id,
      targetName: cluster.name,
      jobId: ctx.jobId,
      original: { heartbeatDelayMs: cluster.heartbeatDelayMs, heartbeatThreshold: cluster.heartbeatThreshold },
      applied: {},
      now: ctx.clock.now(),
    });
    const orig = ov.original as { heartbeatDelayMs: number; heartbeatThreshold: number };
    const threshold = raisedThreshold(orig, predictedStunMs);
    await ctx.deps.connectors.guest.setHeartbeat({ clusterId: cluster.id, heartbeatDelayMs: orig.heartbeatDelayMs, heartbeatThreshold: threshold, idempotencyKey: `${key}:heartbeat` });
    await recordAudit(ctx.service, { action: 'cluster.setHeartbeat', targetKind: 'failoverCluster', targetId: cluster.id, targetName: cluster.name, details: { from: orig, to: { ...orig, heartbeatThreshold: threshold }, reason: 'snapshot consolidation' } });
    await ctx.log('info', `Raised ${cluster.name}'s heartbeat threshold ${orig.heartbeatThreshold} → ${threshold} for the consolidation`);
    raised = true;
  }
  try {
    const removal = await ctx.deps.connectors.hypervisor.removeSnapshot({ snapshotId, idempotencyKey: key });
    return { ...removal, heartbeatRaised: raised };
  } finally {
    if (cluster) await restoreHeartbeat(ctx, cluster.id, 'consolidation finished');
  }
}

export { restoreHeartbeat };
