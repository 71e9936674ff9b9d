import { defineStep, stepResult } from '../../define';
import { releaseAll, tryAcquire, type ResourceDemand } from '../../leases';
import { ResourceWaitError } from '../../retry';
import type { BackupVmJobInput } from '../schemas';
import type { PlanResult } from './plan';

export interface LeaseResult {
  [k: string]: unknown;
  transport: PlanResult['transport'];
  proxyId: string | null;
  proxyName: string | null;
  proxyUuid: string | null;
  proxyHostId: string | null;
  resources: string[];
  waitedMs: number;
}

const WAIT_RETRY_MS = 3_000;

/**
 * Takes every slot the backup needs at once — proxy tasks, storage-unit jobs, datastore and host
 * snapshots, the VM, its failover cluster, the policy's concurrency — or gives its runner slot back
 * and says why it waits ("proxy-02 4/4 tasks, datastore san-01 4/4 snapshots").
 */
export const lease = defineStep<BackupVmJobInput>({
  name: 'lease',
  compensateIfStarted: true,
  async run(ctx): Promise<LeaseResult> {
    const p = stepResult<PlanResult>(ctx.results, 'plan');
    const unit = await ctx.deps.storage.unit(p.storageUnitId);
    const { limits } = ctx.deps.config;
    const common: ResourceDemand[] = [
      { resource: `vm:${p.vm.id}`, label: `${p.vm.name} backups`, limit: 1 },
      { resource: `storage:${unit.id}`, label: `storage unit ${unit.name} jobs`, limit: unit.maxConcurrentJobs },
      { resource: `host:${p.vm.hostId}`, label: `host ${p.vm.hostId} snapshots`, limit: limits.hostSnapshots },
      ...[...new Set(p.vm.disks.map((d) => d.datastoreId))].map((ds) => ({ resource: `datastore:${ds}`, label: `datastore ${ds} snapshots`, limit: limits.datastoreSnapshots })),
      ...(p.vm.failoverClusterId ? [{ resource: `fcluster:${p.vm.failoverClusterId}`, label: `failover cluster ${p.vm.failoverClusterId} snapshots`, limit: 1 }] : []),
      ...(p.policyId ? [{ resource: `policy:${p.policyId}`, label: 'policy concurrent VMs', limit: p.settings.maxConcurrentVms }] : []),
    ];
    const candidates = p.candidates.length > 0 ? p.candidates : [null];
    const reasons: string[] = [];
    for (const c of candidates) {
      const demands = c ? [...common, { resource: `proxy:${c.id}`, label: `${c.name} tasks`, limit: c.maxTasks }] : common;
      const outcome = await tryAcquire(ctx.db, ctx.jobId, demands, ctx.clock.now());
      if (outcome.acquired) {
        await ctx.waiting(null);
        await ctx.log('info', `Leased ${demands.map((d) => d.label).join(', ')}${c ? ` (proxy ${c.name})` : ''}`);
        return { transport: p.transport, proxyId: c?.id ?? null, proxyName: c?.name ?? null, proxyUuid: c?.uuid ?? null, proxyHostId: c?.hostId ?? null, resources: demands.map((d) => d.resource), waitedMs: 0 };
      }
      reasons.push(outcome.reason);
    }
    throw new ResourceWaitError(reasons[0] ?? 'resources busy', WAIT_RETRY_MS);
  },
  async compensate(ctx) {
    return { released: await releaseAll(ctx.db, ctx.jobId) };
  },
});

/** Gives the slots back as soon as the snapshot is gone and the point is recorded. */
export const unlease = defineStep<BackupVmJobInput>({
  name: 'unlease',
  async run(ctx) {
    return { released: await releaseAll(ctx.db, ctx.jobId) };
  },
});
