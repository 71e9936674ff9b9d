import type { DatastoreInfo, HostInfo, ProxyInfo, TransportMode, VmInfo } from '@/server/connectors/types';

export interface TransportChoice {
  transport: TransportMode;
  proxy: ProxyInfo | null;
  /** Why this mode and proxy, and why the ones before it in the order were not used. */
  reasons: string[];
}

export interface TransportCandidatesInput {
  vm: Pick<VmInfo, 'id' | 'hostId' | 'clusterId' | 'disks' | 'name'>;
  proxies: ProxyInfo[];
  hosts: Pick<HostInfo, 'id' | 'clusterId' | 'state'>[];
  datastores: Pick<DatastoreInfo, 'id' | 'name' | 'kind'>[];
  order: TransportMode[];
}

const load = (p: ProxyInfo) => p.activeTasks / Math.max(1, p.maxTasks) + (p.cpuUsagePct + p.memoryUsagePct) / 400;

/** Proxies that can serve a mode for this VM, best first (least loaded), with the reason each other one cannot. */
export function proxiesFor(mode: TransportMode, input: TransportCandidatesInput): { usable: ProxyInfo[]; rejected: string[] } {
  const rejected: string[] = [];
  const dsIds = [...new Set(input.vm.disks.map((d) => d.datastoreId))];
  const hostsById = new Map(input.hosts.map((h) => [h.id, h]));
  const usable = input.proxies.filter((p) => {
    if (!p.transports.includes(mode)) return false;
    if (mode === 'directsan') {
      const missing = dsIds.filter((id) => !p.sanDatastoreIds.includes(id));
      if (missing.length > 0) {
        const names = missing.map((id) => input.datastores.find((d) => d.id === id)?.name ?? id);
        rejected.push(`${p.name} is not zoned to ${names.join(', ')}`);
        return false;
      }
    }
    if (mode === 'hotadd') {
      const host = p.hostId ? hostsById.get(p.hostId) : undefined;
      if (p.kind !== 'vm' || !host) {
        rejected.push(`${p.name} is not a VM proxy`);
        return false;
      }
      if (host.clusterId !== input.vm.clusterId) {
        rejected.push(`${p.name} runs outside ${input.vm.name}'s cluster`);
        return false;
      }
      if (host.state !== 'connected') {
        rejected.push(`${p.name}'s host is down`);
        return false;
      }
    }
    return true;
  });
  usable.sort((a, b) => load(a) - load(b) || a.name.localeCompare(b.name));
  return { usable, rejected };
}

/** The policy's preference order, filtered by what each proxy can reach; falls back to the next mode and says why. */
export function chooseTransport(input: TransportCandidatesInput): TransportChoice | { error: string; reasons: string[] } {
  const reasons: string[] = [];
  for (const mode of input.order) {
    const { usable, rejected } = proxiesFor(mode, input);
    if (usable.length > 0) {
      const proxy = usable[0]!;
      reasons.push(`${mode} via ${proxy.name} (${proxy.activeTasks}/${proxy.maxTasks} tasks)`);
      return { transport: mode, proxy, reasons };
    }
    reasons.push(`${mode}: no proxy can serve${rejected.length ? ` (${rejected.join('; ')})` : ''}`);
  }
  return { error: `no transport in [${input.order.join(', ')}] can read ${input.vm.name}`, reasons };
}
