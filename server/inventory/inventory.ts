import { desc, eq } from 'drizzle-orm';
import { z } from 'zod';
import { jobs, restorePoints } from '@/db/schema';
import { isConnectorError, type VmInfo } from '@/server/connectors/types';
import { requireRole, type ServiceContext } from '@/server/context';
import { NotFoundError } from '@/server/errors';
import { loadProtectionFacts, protectionOf, type VmProtection } from './protection';

export const VmRefInput = z.object({ vm: z.string().trim().min(1, 'Name a VM') });
export type VmRefInput = z.infer<typeof VmRefInput>;

export interface VmSummary {
  id: string;
  uuid: string;
  name: string;
  folder: string;
  tags: string[];
  hostId: string;
  powerState: 'on' | 'off';
  isProxy: boolean;
  diskCount: number;
  totalBytes: number;
  protection: VmProtection;
  lastJob: { id: string; status: string; createdAt: Date } | null;
}

function summarize(vm: VmInfo, facts: Awaited<ReturnType<typeof loadProtectionFacts>>, now: number): VmSummary {
  return {
    id: vm.id,
    uuid: vm.uuid,
    name: vm.name,
    folder: vm.folder,
    tags: vm.tags,
    hostId: vm.hostId,
    powerState: vm.powerState,
    isProxy: vm.isProxy,
    diskCount: vm.disks.length,
    totalBytes: vm.disks.reduce((a, d) => a + d.sizeBytes, 0),
    protection: protectionOf(vm, facts, now),
    lastJob: facts.lastJobs.get(vm.id) ?? null,
  };
}

/** vCenter → cluster → host → VM, each VM with its protection state. */
export async function getInventoryTree({ ctx }: { ctx: ServiceContext }) {
  requireRole(ctx, 'viewer');
  const inv = await ctx.deps.connectors.hypervisor.inventory();
  const facts = await loadProtectionFacts(ctx.db);
  const now = ctx.clock.now();
  const vms = inv.vms.map((vm) => summarize(vm, facts, now));
  return {
    vcenters: inv.vcenters.map((vc) => ({
      ...vc,
      clusters: inv.clusters
        .filter((c) => c.vcenterId === vc.id)
        .map((c) => ({
          ...c,
          hosts: inv.hosts
            .filter((h) => h.clusterId === c.id)
            .map((h) => ({ ...h, vms: vms.filter((v) => v.hostId === h.id).sort((a, b) => a.name.localeCompare(b.name)) })),
        })),
    })),
    datastores: inv.datastores,
    vms,
  };
}

/** Resolve a VM reference (id, UUID or exact name). */
export async function resolveVm(ctx: ServiceContext, ref: string): Promise<VmInfo> {
  const vm = await ctx.deps.connectors.hypervisor.findVm(ref).catch((e) => {
    if (isConnectorError(e, 'NOT_FOUND')) return null;
    throw e;
  });
  if (!vm) throw new NotFoundError('VM', ref);
  return vm;
}

export async function getVmDetail({ ctx, input }: { ctx: ServiceContext; input: VmRefInput }) {
  requireRole(ctx, 'viewer');
  const { vm: ref } = VmRefInput.parse(input);
  const vm = await resolveVm(ctx, ref);
  const inv = await ctx.deps.connectors.hypervisor.inventory();
  const facts = await loadProtectionFacts(ctx.db);
  const host = inv.hosts.find((h) => h.id === vm.hostId) ?? null;
  const cluster = inv.clusters.find((c) => c.id === vm.clusterId) ?? null;
  const cachePolicy = await ctx.deps.connectors.cache.getPolicy(vm.id).catch(() => null);
  const dirty = await ctx.deps.connectors.cache.dirtyBytes(vm.id).catch(() => null);
  const failoverCluster = vm.failoverClusterId ? ((await ctx.deps.connectors.guest.listFailoverClusters()).find((c) => c.id === vm.failoverClusterId) ?? null) : null;
  const points = await ctx.db.select().from(restorePoints).where(eq(restorePoints.vmId, vm.id)).orderBy(desc(restorePoints.createdAt)).limit(200);
  const recentJobs = await ctx.db.select().from(jobs).where(eq(jobs.vmId, vm.id)).orderBy(desc(jobs.createdAt)).limit(20);
  const snapshots = await ctx.deps.connectors.hypervisor.listSnapshots(vm.id);
  return {
    vm: {
      ...vm,
      disks: vm.disks.map((d) => ({ ...d, datastoreName: inv.datastores.find((ds) => ds.id === d.datastoreId)?.name ?? d.datastoreId })),
    },
    host,
    cluster,
    cachePolicy,
    dirtyBytes: dirty?.total ?? null,
    failoverCluster,
    snapshots,
    protection: protectionOf(vm, facts, ctx.clock.now()),
    restorePoints: points,
    recentJobs,
  };
}
