import { eq } from 'drizzle-orm';
import { policies } from '@/db/schema';
import { selectVms } from '@/server/policies/selection';
import { enqueueJob } from '../client';
import { defineJob, defineStep, stepResult } from '../define';
import { NonRetryableError } from '../retry';
import { PolicyRunJobInput } from './schemas';

/** Evaluates the policy's VM selection against the live inventory and queues one backup.vm job per VM. */
const expand = defineStep<PolicyRunJobInput>({
  name: 'expand',
  async run(ctx) {
    const [policy] = await ctx.db.select().from(policies).where(eq(policies.id, ctx.input.policyId));
    if (!policy) throw new NonRetryableError(`policy ${ctx.input.policyId} no longer exists`, 'NOT_FOUND');
    const inv = await ctx.deps.connectors.hypervisor.inventory();
    // Failover-cluster members: the passive node first (the engine never snapshots two members at once).
    const clusters = await ctx.deps.connectors.guest.listFailoverClusters();
    const active = new Set(clusters.map((c) => c.activeVmId));
    const vms = selectVms(inv.vms, policy.selection).sort((a, b) => Number(active.has(a.id)) - Number(active.has(b.id)));
    if (vms.length === 0) await ctx.log('warn', `Policy ${policy.name} selects no VM right now`);
    const jobIds: string[] = [];
    for (const vm of vms) {
      const { job } = await enqueueJob(ctx.db, ctx.clock, {
        type: 'backup.vm',
        key: `backup:${ctx.jobId}:${vm.id}`,
        input: { vmId: vm.id, storageUnitId: policy.storageUnitId, policyId: policy.id, trigger: ctx.input.trigger },
        vmId: vm.id,
        vmName: vm.name,
        policyId: policy.id,
        storageUnitId: policy.storageUnitId,
        parentJobId: ctx.jobId,
        priority: active.has(vm.id) ? 101 : 100,
        createdBy: `policy ${policy.name}`,
      });
      jobIds.push(job.id);
    }
    await ctx.log('info', `Queued ${vms.length} VM backups: ${vms.map((v) => v.name).join(', ')}`);
    return { policyName: policy.name, vms: vms.map((v) => v.name), jobIds };
  },
});

export const policyRunJob = defineJob<PolicyRunJobInput>({
  type: 'policy.run',
  version: '1',
  input: PolicyRunJobInput,
  steps: [expand],
  describe: (input) => ({ policyId: input.policyId }),
  result: (results) => stepResult(results, 'expand'),
});
