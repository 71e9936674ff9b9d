import { recordAudit } from '@/server/audit/record';
import { defineStep, stepResult, type StepContext } from '../../define';
import { findOverride, markRestored, recordOverride } from '../../overrides';
import type { BackupVmJobInput } from '../schemas';
import type { PlanResult } from './plan';

async function unpinVm(ctx: StepContext<BackupVmJobInput>, vmId: string, why: string) {
  const ov = await findOverride(ctx.db, 'drs-pin', vmId, ctx.jobId);
  if (!ov || ov.restoredAt) return { unpinned: false };
  await ctx.deps.connectors.hypervisor.setDrsPin({ vmId, pinned: false, owner: `job:${ctx.jobId}`, idempotencyKey: `${ctx.jobId}:unpin` });
  await markRestored(ctx.db, ov.id, `job ${ctx.jobId}`, ctx.clock.now());
  await recordAudit(ctx.service, { action: 'drs.unpin', targetKind: 'vm', targetId: vmId, targetName: ov.targetName, details: { reason: why } });
  return { unpinned: true };
}

/** DRS must not move the VM while its snapshot exists (a vMotion with an open snapshot is a risk). */
export const pin = defineStep<BackupVmJobInput>({
  name: 'pin',
  compensateIfStarted: true,
  async run(ctx) {
    const p = stepResult<PlanResult>(ctx.results, 'plan');
    if (!p.coordination) return { pinned: false, reason: 'coordination off' };
    const vm = await ctx.deps.connectors.hypervisor.getVm(p.vm.id);
    const existing = await findOverride(ctx.db, 'drs-pin', p.vm.id, ctx.jobId);
    if (vm.drsPinned && !existing) return { pinned: false, reason: 'already pinned by someone else; left as it is' };
    await recordOverride(ctx.db, { kind: 'drs-pin', targetId: p.vm.id, targetName: p.vm.name, jobId: ctx.jobId, original: { pinned: false }, applied: { pinned: true }, now: ctx.clock.now() });
    await ctx.deps.connectors.hypervisor.setDrsPin({ vmId: p.vm.id, pinned: true, owner: `job:${ctx.jobId}`, idempotencyKey: ctx.idempotencyKey });
    await recordAudit(ctx.service, { action: 'drs.pin', targetKind: 'vm', targetId: p.vm.id, targetName: p.vm.name, details: { reason: 'snapshot about to be taken' } });
    return { pinned: true, hostId: vm.hostId };
  },
  async compensate(ctx) {
    const p = stepResult<PlanResult>(ctx.results, 'plan');
    return unpinVm(ctx, p.vm.id, `job ${ctx.jobId} compensation`);
  },
});

export const unpin = defineStep<BackupVmJobInput>({
  name: 'unpin',
  async run(ctx) {
    const p = stepResult<PlanResult>(ctx.results, 'plan');
    return unpinVm(ctx, p.vm.id, 'snapshot removed');
  },
});
