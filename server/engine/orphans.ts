import { inArray } from 'drizzle-orm';
import { jobs } from '@/db/schema';
import { recordAudit } from '@/server/audit/record';
import type { AccelerationPolicy } from '@/server/connectors/types';
import type { ServiceContext } from '@/server/context';
import { errorMessage } from '@/server/errors';
import { markRestored, openOverrides } from './overrides';
import { TERMINAL_STATUSES, type JobStatus } from './statuses';

export interface SweepReport {
  snapshotsRemoved: string[];
  overridesRestored: Array<{ kind: string; target: string; jobId: string }>;
  pinsRemoved: string[];
  errors: string[];
}

const SNAPSHOT_PREFIX = 'quiesce-';

/**
 * Finds what no live job owns — snapshots named after ended (or unknown) jobs, cache policies,
 * DRS pins and heartbeat settings that an ended job changed and did not put back — and undoes it,
 * with an audit entry for each. Runs periodically and at engine start; safe to run anywhere, anytime.
 */
export async function sweepOrphans(ctx: ServiceContext): Promise<SweepReport> {
  const { hypervisor, cache, guest } = ctx.deps.connectors;
  const report: SweepReport = { snapshotsRemoved: [], overridesRestored: [], pinsRemoved: [], errors: [] };
  const snapshots = await hypervisor.listSnapshots();
  const overrides = await openOverrides(ctx.db);
  const pins = await hypervisor.listDrsPins();
  const jobIds = new Set<string>();
  for (const s of snapshots) if (s.name.startsWith(SNAPSHOT_PREFIX)) jobIds.add(s.name.slice(SNAPSHOT_PREFIX.length));
  for (const o of overrides) jobIds.add(o.jobId);
  for (const p of pins) if (p.owner.startsWith('job:')) jobIds.add(p.owner.slice(4));
  const uuidLike = [...jobIds].filter((id) => /^[0-9a-f-]{36}$/i.test(id));
  const rows = uuidLike.length ? await ctx.db.select({ id: jobs.id, status: jobs.status }).from(jobs).where(inArray(jobs.id, uuidLike)) : [];
  const status = new Map<string, JobStatus>(rows.map((r) => [r.id, r.status]));
  const orphaned = (jobId: string) => {
    const s = status.get(jobId);
    return s === undefined || TERMINAL_STATUSES.includes(s);
  };
  const audit = (action: string, targetKind: string, targetId: string, targetName: string | null, details: Record<string, unknown>) =>
    recordAudit(ctx, { action, targetKind, targetId, targetName, details: { ...details, reason: 'orphan sweep: no live job owns it' } });

  for (const s of snapshots) {
    if (!s.name.startsWith(SNAPSHOT_PREFIX)) continue;
    const jobId = s.name.slice(SNAPSHOT_PREFIX.length);
    if (!orphaned(jobId)) continue;
    try {
      await hypervisor.removeSnapshot({ snapshotId: s.id, idempotencyKey: `orphan:${s.id}` });
      report.snapshotsRemoved.push(s.id);
      await audit('snapshot.remove', 'vm', s.vmId, null, { snapshotId: s.id, jobId });
    } catch (e) {
      report.errors.push(`snapshot ${s.id}: ${errorMessage(e)}`);
    }
  }
  for (const o of overrides) {
    if (!orphaned(o.jobId)) continue;
    try {
      if (o.kind === 'cache-policy') await cache.setPolicy({ vmId: o.targetId, policy: o.original as unknown as AccelerationPolicy, idempotencyKey: `orphan:${o.id}` });
      else if (o.kind === 'drs-pin') await hypervisor.setDrsPin({ vmId: o.targetId, pinned: false, owner: `job:${o.jobId}`, idempotencyKey: `orphan:${o.id}` });
      else {
        const orig = o.original as { heartbeatDelayMs: number; heartbeatThreshold: number };
        await guest.setHeartbeat({ clusterId: o.targetId, ...orig, idempotencyKey: `orphan:${o.id}` });
      }
      await markRestored(ctx.db, o.id, 'orphan sweep', ctx.clock.now());
      report.overridesRestored.push({ kind: o.kind, target: o.targetName ?? o.targetId, jobId: o.jobId });
      await audit(`${o.kind}.restore`, o.kind === 'heartbeat' ? 'failoverCluster' : 'vm', o.targetId, o.targetName, { to: o.original, jobId: o.jobId });
    } catch (e) {
      report.errors.push(`${o.kind} ${o.targetId}: ${errorMessage(e)}`);
    }
  }
  const stillPinned = await hypervisor.listDrsPins();
  for (const p of stillPinned) {
    if (!p.owner.startsWith('job:') || !orphaned(p.owner.slice(4))) continue;
    try {
      await hypervisor.setDrsPin({ vmId: p.vmId, pinned: false, owner: p.owner, idempotencyKey: `orphan:pin:${p.vmId}:${p.since}` });
      report.pinsRemoved.push(p.vmId);
      await audit('drs.unpin', 'vm', p.vmId, null, { owner: p.owner });
    } catch (e) {
      report.errors.push(`pin ${p.vmId}: ${errorMessage(e)}`);
    }
  }
  const found = report.snapshotsRemoved.length + report.overridesRestored.length + report.pinsRemoved.length;
  if (found > 0 || report.errors.length > 0) ctx.logger.warn({ ...report }, 'orphan sweep undid leftovers');
  return report;
}

/** Runs the sweep every `intervalMs` on the clock. */
export function startOrphanSweeper(ctx: ServiceContext, intervalMs = 60_000): { stop(): Promise<void>; runNow(): Promise<SweepReport | null> } {
  let running: Promise<SweepReport | null> | null = null;
  const run = () => {
    running ??= sweepOrphans(ctx)
      .catch((e) => {
        ctx.logger.error({ err: e }, 'orphan sweep failed');
        return null;
      })
      .finally(() => {
        running = null;
      });
    return running;
  };
  const timer = setInterval(() => void run(), Math.max(100, intervalMs / ctx.clock.speed));
  timer.unref?.();
  return {
    runNow: run,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
