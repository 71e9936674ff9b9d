import type { CacheConnector, GuestConnector, HypervisorConnector } from '@/server/connectors/types';
import type { Clock } from '@/server/lib/clock';
import type { Logger } from '@/server/lib/logger';
import { labCache, labGuest, labHypervisor } from './connectors';
import { Lab } from './lab';
import { chaosScenario, defaultScenario, loadScenarioFile, ScheduledEventSchema, type Scenario } from './scenario';
import type { LabEvent } from './state';
import { validateTopology, type TopologyInput } from './topology';

export { chaosScenario, defaultScenario, loadScenarioFile, type Scenario };
export { DEFAULT_TOPOLOGY, validateTopology, type Topology, type TopologyInput } from './topology';
export type { LabEvent };

export interface LabMetrics {
  leftoverSnapshots: number;
  vmsWithWrongCachePolicy: number;
  drsPinsLeft: number;
  /** Failovers caused by a backup's stun (host crashes' failovers are not counted). */
  failovers: number;
  /** DRS moves of VMs with an open snapshot. */
  riskyMoves: number;
  lostDirtyBytes: number;
}

/** The lab's own controls, beyond the connector interfaces: inspection, oracle, events, faults. */
export interface LabControl {
  inspect(): Promise<LabInspection>;
  /** The image digest of a snapshot's disk as the guest saw it (waits while it is being computed). */
  oracle(snapshotId: string, diskIndex: number): Promise<{ digest: string; sizeBytes: number } | null>;
  events(opts?: { sinceId?: number; limit?: number; kinds?: string[] }): Promise<LabEvent[]>;
  injectFault(fault: { kind: string } & Record<string, unknown>): Promise<LabEvent>;
  metrics(): Promise<LabMetrics>;
  /** What the guest reads now (cache over datastore) — for tests. */
  guestRead(vmRef: string, diskIndex: number, offset: number, length: number): Promise<Buffer>;
  /** A write by the guest — for tests. */
  guestWrite(vmRef: string, diskIndex: number, offset: number, data: Buffer): Promise<void>;
  /** Runs one DRS decision now — for tests and the Lab page. */
  drsMove(clusterId: string, pickVm: number, pickHost: number): Promise<void>;
}

export interface LabInspection {
  vcenter: { id: string; name: string };
  clock: { now: number; speed: number };
  hosts: Array<{ id: string; name: string; clusterId: string; state: string; destageMBps: number; dirtyBytes: number; vms: Array<{ id: string; name: string; policy: string; dirtyBytes: number }>; pollutionBytes: number; nbdBytes: number; nbdCpuSeconds: number }>;
  datastores: Array<{ id: string; name: string; kind: string }>;
  vms: Array<{
    id: string;
    uuid: string;
    name: string;
    host: string;
    isProxy: boolean;
    folder: string;
    cachePolicy: { mode: string; peers?: number };
    configuredCachePolicy: { mode: string; peers?: number };
    dirtyBytes: number;
    pinned: { owner: string; since: number } | null;
    disks: Array<{ index: number; sizeBytes: number; datastore: string }>;
    snapshots: Array<{ id: string; name: string; createdAt: number; consistency: string; state: string; redoBytes: number }>;
  }>;
  blacklist: Array<{ uuid: string; name: string; addedAt: number }>;
  failoverClusters: Array<{ id: string; name: string; members: string[]; active: string; heartbeatDelayMs: number; heartbeatThreshold: number }>;
}

export interface LabHandleFull {
  hypervisor: HypervisorConnector;
  cache: CacheConnector;
  guest: GuestConnector;
  control: LabControl;
  start(): void;
  stop(): Promise<void>;
  /** The underlying model (tests). */
  lab: Lab;
}

/**
 * The lab as the rest of the product sees it: the three connectors and the lab handle (inspection,
 * oracle, events, faults) — the shape of a process environment.
 */
export function labEnvironment(lab: LabHandleFull) {
  return {
    connectors: { hypervisor: lab.hypervisor, cache: lab.cache, guest: lab.guest },
    lab: {
      inspect: () => lab.control.inspect(),
      oracle: (snapshotId: string, diskIndex: number) => lab.control.oracle(snapshotId, diskIndex),
      events: (opts?: { sinceId?: number; limit?: number }) => lab.control.events(opts),
      injectFault: (fault: Record<string, unknown>) => lab.control.injectFault(fault as { kind: string }),
    },
    start: () => lab.start(),
    stop: () => lab.stop(),
  };
}

export interface CreateLabOptions {
  dir: string;
  clock: Clock;
  logger: Logger;
  seed?: number;
  /** A topology object, a topology or scenario file, or a whole scenario; default: the built-in lab. */
  topology?: TopologyInput;
  topologyFile?: string;
  scenario?: Scenario;
  /** Guests write (default true). */
  workloads?: boolean;
}

function policyText(p: { mode: string; peers?: number }) {
  return p.mode === 'write-back' ? `write-back (${p.peers} peers)` : 'write-through';
}

/** Opens (creating on first use) the lab data center in `dir`. */
export async function createLab(opts: CreateLabOptions): Promise<LabHandleFull> {
  const scenario = opts.scenario ?? (opts.topologyFile ? loadScenarioFile(opts.topologyFile) : opts.topology ? { topology: validateTopology(opts.topology), schedule: [], drs: 'seeded' as const } : defaultScenario());
  const lab = new Lab({ dir: opts.dir, scenario, clock: opts.clock, logger: opts.logger, seed: opts.seed ?? 1, workloads: opts.workloads ?? true });
  await lab.open();
  const resolve = (ref: string) => {
    const vm = lab.findVm(ref);
    if (!vm) throw new Error(`VM ${ref} not found`);
    return vm;
  };
  const control: LabControl = {
    async inspect() {
      const hosts = lab.topology.clusters.flatMap((c) => c.hosts.map((h) => ({ ...h, clusterId: c.id })));
      return {
        vcenter: lab.topology.vcenter,
        clock: { now: lab.clock.now(), speed: lab.clock.speed },
        hosts: hosts.map((h) => {
          const cache = lab.cacheOf(h.id);
          const vms = [...lab.vms.values()].filter((v) => lab.hostOf(v) === h.id);
          return {
            id: h.id,
            name: h.name,
            clusterId: h.clusterId,
            state: lab.state.hosts[h.id]!.state,
            destageMBps: lab.destageRate(h.id) / (1 << 20),
            dirtyBytes: cache.dirtyBytes(),
            vms: vms.map((v) => ({ id: v.id, name: v.spec.name, policy: policyText(lab.policy(v)), dirtyBytes: cache.dirtyBytes(v.id) })),
            pollutionBytes: lab.state.counters.pollutionBytes[h.id] ?? 0,
            nbdBytes: lab.state.counters.nbdBytes[h.id] ?? 0,
            nbdCpuSeconds: Math.round(lab.state.counters.nbdCpuMs[h.id] ?? 0) / 1000,
          };
        }),
        datastores: lab.topology.datastores.map((d) => ({ id: d.id, name: d.name, kind: d.kind })),
        vms: [...lab.vms.values()].map((v) => ({
          id: v.id,
          uuid: v.uuid,
          name: v.spec.name,
          host: lab.hostOf(v),
          isProxy: v.isProxy,
          folder: v.spec.folder,
          cachePolicy: lab.policy(v),
          configuredCachePolicy: lab.configuredPolicy(v.spec),
          dirtyBytes: lab.cacheOf(lab.hostOf(v)).dirtyBytes(v.id),
          pinned: lab.state.vms[v.id]!.pin,
          disks: v.disks.map((d) => ({ index: d.index, sizeBytes: d.sizeBytes, datastore: d.datastoreId })),
          snapshots: Object.values(lab.state.snapshots)
            .filter((s) => s.vmId === v.id)
            .map((s) => ({ id: s.id, name: s.name, createdAt: s.createdAt, consistency: s.consistency, state: s.state, redoBytes: lab.snapshotInfo(s).disks.reduce((a, d) => a + d.redoBytes, 0) })),
        })),
        blacklist: [...lab.state.blacklist],
        failoverClusters: lab.topology.failoverClusters.map((f) => {
          const st = lab.state.clusters[f.id]!;
          return { id: f.id, name: f.name, members: [...f.members], active: lab.vm(st.activeVmId).spec.name, heartbeatDelayMs: st.heartbeatDelayMs, heartbeatThreshold: st.heartbeatThreshold };
        }),
      };
    },
    oracle: (snapshotId, diskIndex) => lab.oracle(snapshotId, diskIndex),
    async events(o = {}) {
      return lab.listEvents(o);
    },
    async injectFault(fault) {
      const now = lab.clock.now() - lab.state.createdAt;
      const parsed = ScheduledEventSchema.safeParse({ atMs: now, ...fault });
      if (!parsed.success) {
        const { ConnectorError } = await import('@/server/connectors/types');
        throw new ConnectorError('INVALID_ARGUMENT', `invalid fault: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'kind'}: ${i.message}`).join('; ')}`);
      }
      return lab.applyFault(parsed.data);
    },
    async metrics() {
      const events = lab.allEvents();
      return {
        leftoverSnapshots: Object.keys(lab.state.snapshots).length,
        vmsWithWrongCachePolicy: [...lab.vms.values()].filter((v) => policyText(lab.policy(v)) !== policyText(lab.configuredPolicy(v.spec))).length,
        drsPinsLeft: Object.values(lab.state.vms).filter((v) => v.pin).length,
        failovers: events.filter((e) => e.kind === 'failover' && e.data?.cause === 'snapshot-stun').length,
        riskyMoves: events.filter((e) => e.kind === 'risky-move').length,
        lostDirtyBytes: events.filter((e) => e.kind === 'dirty-data-lost').reduce((a, e) => a + Number(e.data?.bytes ?? 0), 0),
      };
    },
    async guestRead(ref, d, off, len) {
      return lab.guestRead(resolve(ref), d, off, len);
    },
    async guestWrite(ref, d, off, data) {
      lab.guestWrite(resolve(ref), d, off, data);
    },
    drsMove: (c, a, b) => lab.drsMove(c, a, b),
  };
  return { hypervisor: labHypervisor(lab), cache: labCache(lab), guest: labGuest(lab), control, start: () => lab.start(), stop: () => lab.stop(), lab };
}
