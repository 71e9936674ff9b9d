import { z } from 'zod';
import { requireRole, type ServiceContext } from '@/server/context';
import { raisedThreshold } from '@/server/engine/jobs/backup-vm/snapshot-removal';
import { estimateSnapshotLifetimeMs, predictStun } from '@/server/engine/stun';
import { chooseTransport } from '@/server/engine/transport';
import { PolicySettingsSchema, VmSelectionSchema } from './schemas';
import { selectVms } from './selection';

export const ValidatePolicyInput = z.object({ selection: VmSelectionSchema, settings: PolicySettingsSchema.default(PolicySettingsSchema.parse({})) });
export type ValidatePolicyInput = z.input<typeof ValidatePolicyInput>;

export interface VmVerdict {
  vmId: string;
  vmName: string;
  ok: boolean;
  transport: string | null;
  proxy: string | null;
  cache: string;
  consistency: 'application' | 'crash' | 'fails';
  stun: string | null;
  notes: string[];
  problems: string[];
}

const READ_RATE: Record<string, number> = { directsan: 400e6, hotadd: 300e6, nbd: 100e6 };

/**
 * Dry run against the live environment: for each VM the policy selects now, which transport and
 * proxy would read it, what the cache barrier does, whether quiesce works, and the stun guard.
 */
export async function validatePolicy({ ctx, input }: { ctx: ServiceContext; input: ValidatePolicyInput }): Promise<{ ok: boolean; vms: VmVerdict[] }> {
  requireRole(ctx, 'viewer');
  const { selection, settings } = ValidatePolicyInput.parse(input);
  const { hypervisor, cache, guest } = ctx.deps.connectors;
  const inv = await hypervisor.inventory();
  const [proxies, blacklist, clusters] = await Promise.all([hypervisor.listProxies(), cache.listBlacklist(), guest.listFailoverClusters()]);
  const listed = new Set(blacklist.map((b) => b.uuid));
  const out: VmVerdict[] = [];
  for (const vm of selectVms(inv.vms, selection)) {
    const v: VmVerdict = { vmId: vm.id, vmName: vm.name, ok: true, transport: null, proxy: null, cache: 'no cache', consistency: 'crash', stun: null, notes: [], problems: [] };
    const choice = chooseTransport({ vm, proxies, hosts: inv.hosts, datastores: inv.datastores, order: settings.transportOrder });
    if ('error' in choice) v.problems.push(`${choice.error}: ${choice.reasons.join('; ')}`);
    else {
      v.transport = choice.transport;
      v.proxy = choice.proxy?.name ?? null;
      v.notes.push(...choice.reasons);
    }
    const policy = await cache.getPolicy(vm.id).catch(() => null);
    if (policy?.mode === 'write-back') {
      if (v.transport === 'directsan') v.cache = `write-back (${policy.peers} peers): switched to write-through until clean (≤ ${settings.writeBackTimeoutSec} s), back on once the snapshot exists`;
      else if (v.transport === 'hotadd') {
        const p = 'error' in choice ? null : choice.proxy;
        if (p?.uuid && listed.has(p.uuid)) v.cache = `write-back: ${p.name} is blacklisted, the cache destages the disk on attach`;
        else if (settings.allowBlacklistAdd) v.cache = `write-back: the engine will add ${p?.name} to the blacklist (audited)`;
        else v.problems.push(`${p?.name ?? 'the HotAdd proxy'} is not on the cache blacklist: its reads would miss ${vm.name}'s dirty data`);
      } else if (v.transport === 'nbd') v.cache = 'write-back: NBD reads through the VM host cache';
    } else if (policy) v.cache = 'write-through';
    if (settings.quiesce !== 'off') {
      const cap = await guest.quiesceCapability(vm.id);
      if (cap.canQuiesce) v.consistency = 'application';
      else if (settings.quiesce === 'required') {
        v.consistency = 'fails';
        v.problems.push(`quiesce is required but ${vm.name} cannot quiesce: ${cap.reason ?? 'no guest tools'}`);
      } else v.notes.push(`cannot quiesce (${cap.reason ?? 'no guest tools'}): crash-consistent`);
    }
    const cluster = vm.failoverClusterId ? clusters.find((c) => c.id === vm.failoverClusterId) : undefined;
    if (cluster) {
      const model = hypervisor.snapshotCostModel ? await hypervisor.snapshotCostModel(vm.id) : null;
      const bytes = vm.disks.reduce((a, d) => a + d.sizeBytes, 0);
      const pred = model ? predictStun(model, estimateSnapshotLifetimeMs(bytes, READ_RATE[v.transport ?? 'nbd'] ?? 100e6)) : null;
      const threshold = settings.raiseHeartbeatThreshold ? raisedThreshold(cluster, pred?.stunMs ?? null) : cluster.heartbeatThreshold;
      const tolerance = cluster.heartbeatDelayMs * threshold;
      v.stun = pred ? `predicted ${pred.stunMs} ms vs tolerance ${tolerance} ms (${cluster.name})` : `tolerance ${tolerance} ms (${cluster.name}); no stun estimate`;
      if (pred && pred.stunMs >= tolerance) v.problems.push(`predicted stun ${pred.stunMs} ms would fail over ${cluster.name} (tolerance ${tolerance} ms)`);
      v.notes.push(`${cluster.name} member: never snapshotted together with its partner${cluster.activeVmId === vm.id ? '; active node' : '; passive node, backed up first'}`);
    }
    v.ok = v.problems.length === 0;
    out.push(v);
  }
  return { ok: out.every((v) => v.ok), vms: out };
}
