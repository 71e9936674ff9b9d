import {
  ConnectorError,
  type CacheConnector,
  type DiskReader,
  type Extent,
  type GuestConnector,
  type HypervisorConnector,
  type Inventory,
  type OpenDiskInput,
  type ProxyInfo,
  type VmInfo,
} from '@/server/connectors/types';
import { cacheKey } from './host-cache';
import { BLOCK } from './journal';
import type { Lab, LabVm } from './lab';
import { TRACK } from './virtual-disk';

const MiB = 1 << 20;

export function proxyId(name: string): string {
  return `px-${name}`;
}

function vmInfo(lab: Lab, vm: LabVm): VmInfo {
  const hostId = lab.hostOf(vm);
  const fc = lab.topology.failoverClusters.find((f) => f.members.includes(vm.spec.name));
  return {
    id: vm.id,
    uuid: vm.uuid,
    name: vm.spec.name,
    folder: vm.spec.folder,
    tags: vm.spec.tags,
    hostId,
    clusterId: lab.clusterOfHost(hostId),
    powerState: 'on',
    guestOs: vm.spec.guestOs,
    guestToolsRunning: vm.spec.tools,
    applications: vm.spec.applications,
    disks: vm.disks.map((d) => ({ index: d.index, label: `Hard disk ${d.index + 1}`, sizeBytes: d.sizeBytes, datastoreId: d.datastoreId })),
    isProxy: vm.isProxy,
    failoverClusterId: fc?.id ?? null,
    drsPinned: lab.state.vms[vm.id]!.pin !== null,
  };
}

function proxies(lab: Lab): ProxyInfo[] {
  return lab.topology.proxies.map((p) => {
    const vm = p.kind === 'vm' ? lab.findVm(p.name) : null;
    const id = proxyId(p.name);
    const active = lab.proxyTasks.get(id) ?? 0;
    return {
      id,
      name: p.name,
      kind: p.kind,
      vmId: vm?.id ?? null,
      uuid: vm?.uuid ?? null,
      hostId: vm ? lab.hostOf(vm) : null,
      transports: p.transports,
      sanDatastoreIds: p.sanDatastores,
      maxTasks: p.maxTasks,
      activeTasks: active,
      cpuUsagePct: Math.min(100, 8 + (active / p.maxTasks) * 70),
      memoryUsagePct: Math.min(100, 20 + (active / p.maxTasks) * 50),
    };
  });
}

function findProxy(lab: Lab, ref: string | null): ProxyInfo | null {
  if (!ref) return null;
  const p = proxies(lab).find((x) => x.id === ref || x.name === ref);
  if (!p) throw new ConnectorError('NOT_FOUND', `proxy ${ref} not found`);
  return p;
}

function extentsOf(flags: Uint8Array, size: number, extraBlocks: Iterable<number>): Extent[] {
  const f = new Uint8Array(flags);
  for (const b of extraBlocks) f[Math.floor((b * BLOCK) / TRACK)] = 1;
  const out: Extent[] = [];
  for (let t = 0; t < f.length; t++) {
    if (!f[t]) continue;
    const off = t * TRACK;
    const len = Math.min(TRACK, size - off);
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === off) last[1] += len;
    else out.push([off, len]);
  }
  return out;
}

/**
 * Reading a snapshot's disk over a transport. `datastore` sees only the disk file (what a SAN
 * reader or a blacklisted/remote proxy gets); `host` reads through the VM's host, its cache included.
 */
async function openReader(lab: Lab, input: OpenDiskInput): Promise<DiskReader> {
  const rec = lab.state.snapshots[input.snapshotId];
  if (!rec) throw new ConnectorError('NOT_FOUND', `snapshot ${input.snapshotId} not found`);
  if (rec.state !== 'open') throw new ConnectorError('CONFLICT', `snapshot ${input.snapshotId} is being removed`);
  const vm = lab.vm(rec.vmId);
  const disk = vm.disks[input.diskIndex];
  const snapDisk = rec.disks.find((d) => d.index === input.diskIndex);
  if (!disk || !snapDisk) throw new ConnectorError('NOT_FOUND', `snapshot ${input.snapshotId} has no disk ${input.diskIndex}`);
  const vmHost = lab.hostOf(vm);
  const proxy = findProxy(lab, input.proxyId);
  if ((input.transport === 'directsan' || input.transport === 'hotadd') && !proxy) throw new ConnectorError('INVALID_ARGUMENT', `${input.transport} needs a proxy`);
  if (proxy && !proxy.transports.includes(input.transport)) throw new ConnectorError('INVALID_ARGUMENT', `${proxy.name} cannot use ${input.transport}`);
  let view: 'datastore' | 'host' = 'host';
  let pollutes: string | null = null;
  let nbdHost: string | null = null;
  if (input.transport === 'directsan') {
    if (!proxy!.sanDatastoreIds.includes(disk.datastoreId)) throw new ConnectorError('UNREACHABLE', `${proxy!.name} is not zoned to datastore ${disk.datastoreId}`);
    view = 'datastore';
  } else if (input.transport === 'hotadd') {
    const p = proxy!;
    if (p.kind !== 'vm' || !p.hostId) throw new ConnectorError('INVALID_ARGUMENT', `${p.name} is not a proxy VM: HotAdd attaches disks to a VM`);
    if (!lab.hostUp(p.hostId)) throw new ConnectorError('UNREACHABLE', `${p.name}'s host ${p.hostId} is down`);
    if (lab.clusterOfHost(p.hostId) !== lab.clusterOfHost(vmHost)) throw new ConnectorError('UNREACHABLE', `${p.name} runs outside ${vm.spec.name}'s cluster`);
    const blacklisted = lab.state.blacklist.some((b) => b.uuid === p.uuid);
    if (blacklisted) {
      // The cache knows a backup proxy is attaching the disk: it destages that disk first, on the VM's host.
      const dirty = lab.cacheOf(vmHost).dirtyBytes(vm.id, input.diskIndex);
      await lab.destageVm(vm, { disk: input.diskIndex, layerId: 'base' });
      if (dirty > 0) lab.event('hotadd-destage', `${vm.spec.name} disk ${input.diskIndex}: destaged ${dirty} dirty bytes ${p.hostId === vmHost ? 'locally' : `on ${vmHost} at ${p.name}'s request`} before HotAdd`, { vmId: vm.id, hostId: vmHost, data: { proxy: p.name, bytes: dirty } });
      view = 'datastore';
    } else {
      view = p.hostId === vmHost ? 'host' : 'datastore';
      pollutes = p.hostId;
    }
  } else {
    if (!lab.hostUp(vmHost)) throw new ConnectorError('UNREACHABLE', `${vm.spec.name}'s host ${vmHost} is down`);
    view = 'host';
    nbdHost = vmHost;
  }
  const rt = lab.runtimeOf(rec.id);
  if (rt) rt.readers++;
  const taskId = proxy?.id ?? null;
  if (taskId) lab.proxyTasks.set(taskId, (lab.proxyTasks.get(taskId) ?? 0) + 1);
  let closed = false;
  return {
    sizeBytes: snapDisk.sizeBytes,
    transport: input.transport,
    async allocatedExtents() {
      const alloc = lab.snapshotAllocation(rec.id, input.diskIndex) ?? new Uint8Array(Math.ceil(snapDisk.sizeBytes / TRACK)).fill(1);
      const dirty = lab.cacheOf(lab.hostOf(vm)).dirty.get(cacheKey(vm.id, input.diskIndex, 'base'));
      return extentsOf(alloc, snapDisk.sizeBytes, dirty?.keys() ?? []);
    },
    async read(offset, length) {
      if (closed) throw new ConnectorError('CONFLICT', 'the disk reader is closed');
      if (!lab.state.snapshots[rec.id] || lab.state.snapshots[rec.id]!.state !== 'open') throw new ConnectorError('CONFLICT', `snapshot ${rec.id} is gone`);
      if (offset < 0 || length < 0 || offset + length > snapDisk.sizeBytes) throw new ConnectorError('INVALID_ARGUMENT', `read [${offset}, ${length}] is outside the disk (${snapDisk.sizeBytes} bytes)`);
      const buf = disk.readBase(offset, length);
      if (view === 'host') {
        const host = lab.hostOf(vm);
        if (!lab.hostUp(host)) throw new ConnectorError('UNREACHABLE', `${vm.spec.name}'s host ${host} is down`);
        const dirty = lab.cacheOf(host).dirty.get(cacheKey(vm.id, input.diskIndex, 'base'));
        if (dirty && dirty.size) {
          const first = Math.floor(offset / BLOCK);
          const last = Math.ceil((offset + length) / BLOCK);
          for (let b = first; b < last; b++) {
            const d = dirty.get(b)?.data;
            if (!d) continue;
            const at = b * BLOCK - offset;
            const from = Math.max(0, -at);
            const to = Math.min(BLOCK, length - at);
            if (to > from) d.copy(buf, at + from, from, to);
          }
        }
      }
      if (pollutes) lab.countPollution(pollutes, length);
      if (nbdHost) {
        lab.countNbd(nbdHost, length);
        await lab.clock.sleep((length / lab.networkRate(nbdHost)) * 1000);
      }
      return buf;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (rt) rt.readers--;
      if (taskId) lab.proxyTasks.set(taskId, Math.max(0, (lab.proxyTasks.get(taskId) ?? 1) - 1));
    },
  };
}

export function labHypervisor(lab: Lab): HypervisorConnector {
  return {
    kind: 'lab',
    async inventory(): Promise<Inventory> {
      return {
        vcenters: [{ id: lab.topology.vcenter.id, name: lab.topology.vcenter.name }],
        clusters: lab.topology.clusters.map((c) => ({ id: c.id, name: c.name, vcenterId: lab.topology.vcenter.id, drsEnabled: c.drs.enabled })),
        hosts: lab.topology.clusters.flatMap((c) =>
          c.hosts.map((h) => ({
            id: h.id,
            name: h.name,
            clusterId: c.id,
            state: lab.hostUp(h.id) ? ('connected' as const) : ('down' as const),
            networkBytesPerSec: lab.networkRate(h.id),
            cpuUsagePct: 15,
          })),
        ),
        datastores: lab.topology.datastores.map((d) => {
          const used = [...lab.vms.values()].flatMap((v) => v.disks).filter((x) => x.datastoreId === d.id).reduce((a, x) => a + x.sizeBytes, 0);
          return { id: d.id, name: d.name, kind: d.kind, capacityBytes: d.capacityGiB * 1024 * MiB, usedBytes: used };
        }),
        vms: [...lab.vms.values()].map((v) => vmInfo(lab, v)),
      };
    },
    async getVm(vmId) {
      return vmInfo(lab, lab.vm(vmId));
    },
    async findVm(ref) {
      const v = lab.findVm(ref);
      return v ? vmInfo(lab, v) : null;
    },
    createSnapshot: (input) => lab.createSnapshot(input),
    async listSnapshots(vmId) {
      return Object.values(lab.state.snapshots)
        .filter((s) => !vmId || s.vmId === vmId)
        .map((s) => lab.snapshotInfo(s));
    },
    async findSnapshotByKey(key) {
      const id = lab.state.keys[key];
      const rec = id ? lab.state.snapshots[id] : undefined;
      return rec ? lab.snapshotInfo(rec) : null;
    },
    removeSnapshot: ({ snapshotId }) => lab.removeSnapshot(snapshotId),
    async queryChangedExtents({ snapshotId, diskIndex, sinceChangeId }) {
      return lab.queryChangedExtents(snapshotId, diskIndex, sinceChangeId);
    },
    openDisk: (input) => openReader(lab, input),
    async setDrsPin({ vmId, pinned, owner }) {
      lab.setPin(vmId, pinned, owner);
    },
    async listDrsPins() {
      return Object.entries(lab.state.vms)
        .filter(([, v]) => v.pin)
        .map(([vmId, v]) => ({ vmId, owner: v.pin!.owner, since: v.pin!.since }));
    },
    async listProxies() {
      return proxies(lab);
    },
    async snapshotCostModel(vmId) {
      return lab.costModel(lab.vm(vmId));
    },
  };
}

export function labCache(lab: Lab): CacheConnector {
  return {
    kind: 'lab',
    async getPolicy(vmId) {
      return lab.policy(lab.vm(vmId));
    },
    async setPolicy({ vmId, policy }) {
      if (policy.mode === 'write-back' && ![0, 1, 2].includes(policy.peers)) throw new ConnectorError('INVALID_ARGUMENT', 'write-back takes 0, 1 or 2 peers');
      lab.setPolicy(vmId, policy);
    },
    async dirtyBytes(vmId) {
      const vm = lab.vm(vmId);
      const cache = lab.cacheOf(lab.hostOf(vm));
      return { vmId, total: cache.dirtyBytes(vm.id), disks: vm.disks.map((d) => ({ index: d.index, bytes: cache.dirtyBytes(vm.id, d.index) })) };
    },
    async waitUntilClean({ vmId, timeoutMs, signal }) {
      const vm = lab.vm(vmId);
      const started = lab.clock.now();
      let onAbort: (() => void) | null = null;
      const aborted = new Promise<boolean>((_, reject) => {
        onAbort = () => reject(signal?.reason ?? new Error('aborted'));
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      aborted.catch(() => undefined);
      const clean = await Promise.race([lab.destageVm(vm, { timeoutMs }), aborted]).finally(() => {
        if (onAbort) signal?.removeEventListener('abort', onAbort);
      });
      return { clean, waitedMs: lab.clock.now() - started, dirtyBytes: lab.cacheOf(lab.hostOf(vm)).dirtyBytes(vm.id) };
    },
    async listBlacklist() {
      return [...lab.state.blacklist];
    },
    async addToBlacklist({ uuid, name }) {
      if (!/^[0-9a-f-]{36}$/i.test(uuid)) throw new ConnectorError('INVALID_ARGUMENT', `${uuid} is not a VM UUID`);
      if (lab.state.blacklist.some((b) => b.uuid === uuid)) return;
      lab.state.blacklist.push({ uuid, name, addedAt: lab.clock.now() });
      lab.persist();
      lab.event('blacklist', `${name} (${uuid}) added to the proxy blacklist`, { data: { uuid, name, change: 'add' } });
    },
    async removeFromBlacklist({ uuid, confirm }) {
      const entry = lab.state.blacklist.find((b) => b.uuid === uuid);
      if (!entry) throw new ConnectorError('NOT_FOUND', `${uuid} is not on the proxy blacklist`);
      const current = [...lab.vms.values()].find((v) => v.uuid === uuid)?.spec.name;
      if (confirm !== uuid && confirm !== current) throw new ConnectorError('CONFIRMATION_REQUIRED', `removing ${entry.name} from the blacklist needs confirm = its UUID or name`);
      lab.state.blacklist = lab.state.blacklist.filter((b) => b.uuid !== uuid);
      lab.persist();
      lab.event('blacklist', `${entry.name} (${uuid}) removed from the proxy blacklist`, { data: { uuid, name: entry.name, change: 'remove' } });
    },
  };
}

export function labGuest(lab: Lab): GuestConnector {
  return {
    kind: 'lab',
    async quiesceCapability(vmId) {
      const vm = lab.vm(vmId);
      if (!vm.spec.tools) return { canQuiesce: false, reason: 'guest tools are not running', applications: vm.spec.applications };
      if (vm.spec.quiesceBroken) return { canQuiesce: false, reason: 'a VSS writer of the guest is failed', applications: vm.spec.applications };
      return { canQuiesce: true, reason: null, applications: vm.spec.applications };
    },
    async listFailoverClusters() {
      return lab.topology.failoverClusters.map((f) => {
        const st = lab.state.clusters[f.id]!;
        return { id: f.id, name: f.name, memberVmIds: f.members.map((m) => `vm-${m}`), activeVmId: st.activeVmId, heartbeatDelayMs: st.heartbeatDelayMs, heartbeatThreshold: st.heartbeatThreshold };
      });
    },
    async setHeartbeat({ clusterId, heartbeatDelayMs, heartbeatThreshold }) {
      const st = lab.state.clusters[clusterId];
      if (!st) throw new ConnectorError('NOT_FOUND', `failover cluster ${clusterId} not found`);
      if (!(heartbeatDelayMs >= 100 && heartbeatThreshold >= 1 && heartbeatThreshold <= 120)) throw new ConnectorError('INVALID_ARGUMENT', 'heartbeat delay ≥ 100 ms, threshold 1–120');
      if (st.heartbeatDelayMs === heartbeatDelayMs && st.heartbeatThreshold === heartbeatThreshold) return;
      const from = { heartbeatDelayMs: st.heartbeatDelayMs, heartbeatThreshold: st.heartbeatThreshold };
      st.heartbeatDelayMs = heartbeatDelayMs;
      st.heartbeatThreshold = heartbeatThreshold;
      lab.persist();
      lab.event('heartbeat', `${clusterId}: heartbeat ${from.heartbeatDelayMs} ms × ${from.heartbeatThreshold} → ${heartbeatDelayMs} ms × ${heartbeatThreshold}`, { data: { clusterId, from, to: { heartbeatDelayMs, heartbeatThreshold } } });
    },
  };
}
