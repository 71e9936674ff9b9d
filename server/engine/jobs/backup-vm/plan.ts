import { and, desc, eq } from 'drizzle-orm';
import { policies, restorePoints } from '@/db/schema';
import { PolicySettingsSchema, type PolicySettings } from '@/server/policies/schemas';
import type { AccelerationPolicy, TransportMode } from '@/server/connectors/types';
import { proxiesFor } from '../../transport';
import { defineStep } from '../../define';
import { NonRetryableError } from '../../retry';
import { chooseTransport } from '../../transport';
import type { BackupVmJobInput } from '../schemas';

export interface PlannedDisk {
  index: number;
  label: string;
  sizeBytes: number;
  datastoreId: string;
}

export interface PlanResult {
  [k: string]: unknown;
  vm: { id: string; uuid: string; name: string; hostId: string; clusterId: string; failoverClusterId: string | null; disks: PlannedDisk[] };
  storageUnitId: string;
  policyId: string | null;
  settings: PolicySettings;
  /** Latest restore point of this VM in the same storage unit: changed extents are read against it. */
  parent: { pointId: string; disks: Array<{ index: number; changeId: string | null; sizeBytes: number }> } | null;
  /** The transport mode chosen by the policy's order and reachability. */
  transport: TransportMode;
  /** Proxies that can serve it, least loaded first: the lease step takes the first with free slots. */
  candidates: Array<{ id: string; name: string; maxTasks: number; uuid: string | null; hostId: string | null }>;
  /** The VM's acceleration policy when planned (null: no cache layer answers for it). */
  cachePolicy: AccelerationPolicy | null;
  coordination: boolean;
  reasons: string[];
}

/** Resolve the VM where it is now, its policy and target, the parent point, and a transport and proxy. */
export const plan = defineStep<BackupVmJobInput>({
  name: 'plan',
  async run(ctx): Promise<PlanResult> {
    const { hypervisor } = ctx.deps.connectors;
    const vm = await hypervisor.getVm(ctx.input.vmId).catch((e) => {
      throw new NonRetryableError(`VM ${ctx.input.vmId} not found: ${(e as Error).message}`, 'NOT_FOUND');
    });
    if (vm.disks.length === 0) throw new NonRetryableError(`${vm.name} has no disks`, 'PRECONDITION_FAILED');
    await ctx.deps.storage.unit(ctx.input.storageUnitId);

    let settings = PolicySettingsSchema.parse({});
    if (ctx.input.policyId) {
      const [p] = await ctx.db.select().from(policies).where(eq(policies.id, ctx.input.policyId));
      if (p) settings = PolicySettingsSchema.parse(p.settings ?? {});
    }

    const [last] = await ctx.db
      .select()
      .from(restorePoints)
      .where(and(eq(restorePoints.vmId, vm.id), eq(restorePoints.storageUnitId, ctx.input.storageUnitId), eq(restorePoints.status, 'available')))
      .orderBy(desc(restorePoints.createdAt))
      .limit(1);
    let parent: PlanResult['parent'] = null;
    if (last) {
      const repo = await ctx.deps.storage.repository(ctx.input.storageUnitId);
      const exists = await repo.getPoint(last.id).then(
        () => true,
        () => false,
      );
      if (exists) parent = { pointId: last.id, disks: last.disks.map((d) => ({ index: d.index, changeId: d.changeId, sizeBytes: d.sizeBytes })) };
      else await ctx.log('warn', `Restore point ${last.id} is missing from the storage unit; this backup reads every disk in full`);
    }

    const inv = await hypervisor.inventory();
    const proxies = await hypervisor.listProxies();
    const tinput = { vm, proxies, hosts: inv.hosts, datastores: inv.datastores, order: settings.transportOrder };
    const choice = chooseTransport(tinput);
    if ('error' in choice) throw new NonRetryableError(`${choice.error}: ${choice.reasons.join('; ')}`, 'PRECONDITION_FAILED');
    const candidates = proxiesFor(choice.transport, tinput).usable.map((x) => ({ id: x.id, name: x.name, maxTasks: x.maxTasks, uuid: x.uuid, hostId: x.hostId }));
    const cachePolicy = await ctx.deps.connectors.cache.getPolicy(vm.id).catch(() => null);

    const result: PlanResult = {
      vm: {
        id: vm.id,
        uuid: vm.uuid,
        name: vm.name,
        hostId: vm.hostId,
        clusterId: vm.clusterId,
        failoverClusterId: vm.failoverClusterId,
        disks: vm.disks.map((d) => ({ index: d.index, label: d.label, sizeBytes: d.sizeBytes, datastoreId: d.datastoreId })),
      },
      storageUnitId: ctx.input.storageUnitId,
      policyId: ctx.input.policyId,
      settings,
      parent,
      transport: choice.transport,
      candidates,
      cachePolicy,
      coordination: ctx.input.coordination,
      reasons: choice.reasons,
    };
    await ctx.log('info', `Plan: ${vm.name} on ${vm.hostId} (${cachePolicy ? (cachePolicy.mode === 'write-back' ? `write-back, ${cachePolicy.peers} peers` : 'write-through') : 'no cache'}), ${choice.reasons.join('; ')}${parent ? `, incremental from ${parent.pointId}` : ', first full backup'}`, { transport: choice.transport, reasons: choice.reasons });
    return result;
  },
});
