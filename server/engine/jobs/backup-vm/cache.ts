import type { AccelerationPolicy } from '@/server/connectors/types';
import { recordAudit } from '@/server/audit/record';
import { defineStep, stepResult, type StepContext } from '../../define';
import { findOverride, markRestored, recordOverride } from '../../overrides';
import { NonRetryableError } from '../../retry';
import type { BackupVmJobInput } from '../schemas';
import type { LeaseResult } from './lease';
import type { PlanResult } from './plan';

export interface CacheResult {
  [k: string]: unknown;
  barrier: boolean;
  reason: string;
  original: AccelerationPolicy | null;
  writeThroughStartedAt: number | null;
  cleanAt: number | null;
  destageMs: number;
}

const fmt = (p: AccelerationPolicy) => (p.mode === 'write-back' ? `write-back (${p.peers} peers)` : 'write-through');

/** Puts the remembered acceleration policy back (idempotent: a restored override is left alone). */
export async function restoreCachePolicy(ctx: StepContext<BackupVmJobInput>, vmId: string, why: string): Promise<{ restored: boolean; policy?: AccelerationPolicy }> {
  const ov = await findOverride(ctx.db, 'cache-policy', vmId, ctx.jobId);
  if (!ov || ov.restoredAt) return { restored: false };
  const original = ov.original as unknown as AccelerationPolicy;
  await ctx.deps.connectors.cache.setPolicy({ vmId, policy: original, idempotencyKey: `${ctx.jobId}:cache:restore` });
  await markRestored(ctx.db, ov.id, `job ${ctx.jobId}`, ctx.clock.now());
  await recordAudit(ctx.service, { action: 'cache.setPolicy', targetKind: 'vm', targetId: vmId, targetName: ov.targetName, details: { to: original, reason: why } });
  return { restored: true, policy: original };
}

/**
 * The write-back barrier. DirectSAN reads the datastore and bypasses every host cache, so a
 * write-back VM's dirty data would be missing: remember the policy, switch to write-through, wait
 * until clean (bounded), and only then take the snapshot. Compensation restores the policy.
 */
export const cache = defineStep<BackupVmJobInput>({
  name: 'cache',
  compensateIfStarted: true,
  async run(ctx): Promise<CacheResult> {
    const p = stepResult<PlanResult>(ctx.results, 'plan');
    const l = stepResult<LeaseResult>(ctx.results, 'lease');
    const none = (reason: string): CacheResult => ({ barrier: false, reason, original: null, writeThroughStartedAt: null, cleanAt: null, destageMs: 0 });
    if (!p.coordination) return none('cache coordination is off for this job');
    const existing = await findOverride(ctx.db, 'cache-policy', p.vm.id, ctx.jobId);
    const current = (existing?.original as unknown as AccelerationPolicy | undefined) ?? (await ctx.deps.connectors.cache.getPolicy(p.vm.id));
    if (current.mode !== 'write-back') return none('write-through: the datastore already has every write');
    if (l.transport === 'nbd') return none('NBD reads through the VM host, cache included');
    if (l.transport === 'hotadd') return none(`${l.proxyName} is on the cache blacklist: the cache destages the disk when it is attached`);

    const ov = await recordOverride(ctx.db, {
      kind: 'cache-policy',
      targetId: p.vm.id,
      targetName: p.vm.name,
      jobId: ctx.jobId,
      original: current as unknown as Record<string, unknown>,
      applied: { mode: 'write-through' },
      now: ctx.clock.now(),
    });
    const original = ov.original as unknown as AccelerationPolicy;
    const startedAt = ov.createdAt.getTime();
    await ctx.deps.connectors.cache.setPolicy({ vmId: p.vm.id, policy: { mode: 'write-through' }, idempotencyKey: ctx.idempotencyKey });
    await recordAudit(ctx.service, { action: 'cache.setPolicy', targetKind: 'vm', targetId: p.vm.id, targetName: p.vm.name, details: { from: original, to: { mode: 'write-through' }, reason: 'DirectSAN barrier before the snapshot' } });
    const timeoutMs = p.settings.writeBackTimeoutSec * 1000;
    const before = await ctx.deps.connectors.cache.dirtyBytes(p.vm.id);
    await ctx.log('info', `${p.vm.name}: ${fmt(original)} → write-through for DirectSAN; destaging ${before.total} dirty bytes (at most ${p.settings.writeBackTimeoutSec} s)`, { dirtyBytes: before.total });
    const w = await ctx.deps.connectors.cache.waitUntilClean({ vmId: p.vm.id, timeoutMs, signal: ctx.signal });
    if (!w.clean) {
      throw new NonRetryableError(
        `${p.vm.name} still had ${w.dirtyBytes} dirty bytes after ${p.settings.writeBackTimeoutSec} s of write-through (destage slower than its writes); its ${fmt(original)} policy is restored. Raise the policy's write-back timeout, or prefer NBD or a blacklisted HotAdd proxy for it`,
        'TIMEOUT',
      );
    }
    await ctx.log('info', `${p.vm.name} is clean after ${Math.round(w.waitedMs / 1000)} s`, { destageMs: w.waitedMs });
    return { barrier: true, reason: 'DirectSAN barrier', original, writeThroughStartedAt: startedAt, cleanAt: ctx.clock.now(), destageMs: w.waitedMs };
  },
  async compensate(ctx) {
    const p = stepResult<PlanResult>(ctx.results, 'plan');
    return restoreCachePolicy(ctx, p.vm.id, `job ${ctx.jobId} compensation`);
  },
});

/** As soon as the snapshot exists the frozen base is wholly on the datastore: write-back goes back on. */
export const uncache = defineStep<BackupVmJobInput>({
  name: 'uncache',
  async run(ctx) {
    const p = stepResult<PlanResult>(ctx.results, 'plan');
    const c = stepResult<CacheResult>(ctx.results, 'cache');
    if (!c.barrier) return { restored: false, writeThroughWindowMs: 0 };
    const r = await restoreCachePolicy(ctx, p.vm.id, 'snapshot taken: the frozen base is on the datastore');
    const windowMs = ctx.clock.now() - (c.writeThroughStartedAt ?? ctx.clock.now());
    await ctx.log('info', `${p.vm.name} is back to ${r.policy ? fmt(r.policy) : 'its policy'}; it ran write-through for ${(windowMs / 1000).toFixed(1)} s`, { writeThroughWindowMs: windowMs });
    return { restored: r.restored, writeThroughWindowMs: windowMs };
  },
});
