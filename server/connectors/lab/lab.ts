import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ConnectorError,
  type AccelerationPolicy,
  type ChangedExtents,
  type ConsistencyLevel,
  type Extent,
  type SnapshotInfo,
  type SnapshotRemoval,
} from '@/server/connectors/types';
import type { Clock } from '@/server/lib/clock';
import type { Logger } from '@/server/lib/logger';
import { DIGEST_BLOCK, ImageDigest } from '@/server/lib/image-digest';
import { rngFor, seededBytes, seededUuid } from '@/server/lib/random';
import { buildDiskImage, buildOsTemplate, PARTITION_OFFSET } from './disk-image';
import { HostCache, cacheKey, parseCacheKey, type DirtyBlock } from './host-cache';
import { BLOCK } from './journal';
import type { ScheduledEvent, Scenario } from './scenario';
import { loadState, readU32, readU8, saveState, writeArray, type LabEvent, type PersistedState, type SnapshotRecord } from './state';
import type { Topology, VmSpec } from './topology';
import { RedoLayer, TRACK, VirtualDisk } from './virtual-disk';

const MiB = 1 << 20;
const TICK_MS = 500;
const EVENT_MEMORY = 2_000;

export interface LabVm {
  id: string;
  uuid: string;
  spec: VmSpec;
  isProxy: boolean;
  disks: VirtualDisk[];
  /** Guest writes wait while this is set (quiesce freeze, consolidation stun, restart after a crash). */
  gate: Promise<void> | null;
  openGate: (() => void) | null;
  seqPointer: number;
  writePool: Buffer;
  writePoolPos: number;
  carry: number;
  rand: () => number;
}

interface SnapshotRuntime {
  /** Dirty blocks the guest had for the base disks at the snapshot instant (part of the frozen image). */
  frozenDirty: Map<number, Map<number, DirtyBlock>>;
  ready: Promise<void>;
  removing: Promise<SnapshotRemoval> | null;
  readers: number;
}

function vmIdOf(name: string): string {
  return `vm-${name}`;
}

/**
 * The lab data center: hosts with write-back flash caches, datastores holding real sparse disk
 * files, guests that keep writing, snapshots with redo logs and stun, DRS, failover clusters,
 * quiesce, change tracking — and the oracle of what every guest saw at every snapshot.
 */
export class Lab {
  readonly dir: string;
  readonly topology: Topology;
  readonly clock: Clock;
  readonly log: Logger;
  readonly seed: number;
  readonly scenario: Scenario;
  readonly vms = new Map<string, LabVm>();
  readonly caches = new Map<string, HostCache>();
  state!: PersistedState;
  private readonly snapRt = new Map<string, SnapshotRuntime>();
  private events: LabEvent[] = [];
  private timer: Promise<void> | null = null;
  private running = false;
  private lastTick = 0;
  private drsRand: () => number;
  private nextDrsAt = new Map<string, number>();
  private persistQueued = false;
  readonly proxyTasks = new Map<string, number>();
  private readonly workloads: boolean;

  constructor(opts: { dir: string; scenario: Scenario; clock: Clock; logger: Logger; seed: number; workloads: boolean }) {
    this.dir = opts.dir;
    this.scenario = opts.scenario;
    this.topology = opts.scenario.topology;
    this.clock = opts.clock;
    this.log = opts.logger;
    this.seed = opts.seed;
    this.workloads = opts.workloads;
    this.drsRand = rngFor(opts.seed, 'drs');
  }

  // ------------------------------------------------------------------------------------ paths

  private p(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  private diskFile(vm: VmSpec, index: number, datastore: string): string {
    return this.p('datastores', datastore, vm.name, `disk${index}.raw`);
  }

  // -------------------------------------------------------------------------------- lifecycle

  /** Opens the lab in its directory, creating the data center on first use. */
  async open(): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    const existing = loadState(this.p('state.json'));
    if (!existing) await this.build();
    this.state = loadState(this.p('state.json'))!;
    const unclean = !this.state.cleanShutdown;
    this.loadEvents();
    for (const h of this.allHosts()) this.caches.set(h.id, new HostCache(h.id, this.p('hosts', h.id, 'flash.journal')));
    for (const spec of this.allVmSpecs()) this.attachVm(spec.spec, spec.isProxy);
    // Open snapshots: their redo logs replay from the journals.
    for (const rec of Object.values(this.state.snapshots)) {
      const vm = this.vms.get(rec.vmId);
      if (!vm) continue;
      for (const d of rec.disks) {
        const disk = vm.disks[d.index]!;
        for (const lid of d.layerIds) {
          const f = this.p('redo', `${lid}.journal`);
          if (fs.existsSync(f)) disk.layers.push(RedoLayer.open(lid, f));
        }
      }
      this.snapRt.set(rec.id, { frozenDirty: new Map(), ready: Promise.resolve(), removing: null, readers: 0 });
    }
    if (unclean) {
      // A restart after a crash of the lab process: change tracking may have missed writes.
      for (const vm of this.vms.values()) for (const d of vm.disks) {
        d.resetCbt();
        d.rescanAllocation();
      }
      this.event('cbt-reset', 'The lab restarted after an unclean stop: change tracking was reset on every disk', {});
    }
    this.state.cleanShutdown = false;
    // Snapshots caught half-way through: finish consolidation, compute missing oracle records.
    for (const rec of Object.values(this.state.snapshots)) {
      if (rec.state === 'consolidating') await this.finishConsolidationAfterCrash(rec);
      else if (!this.state.oracle[rec.id]) await this.computeOracle(rec, this.currentFrozenView(rec));
    }
    this.persist();
  }

  private allHosts() {
    return this.topology.clusters.flatMap((c) => c.hosts.map((h) => ({ ...h, clusterId: c.id })));
  }

  private allVmSpecs(): Array<{ spec: VmSpec; isProxy: boolean }> {
    const proxies: Array<{ spec: VmSpec; isProxy: boolean }> = this.topology.proxies
      .filter((p) => p.kind === 'vm')
      .map((p) => ({
        isProxy: true,
        spec: {
          name: p.name,
          folder: '/backup',
          tags: ['backup-proxy'],
          host: p.host!,
          datastore: p.datastore ?? this.topology.datastores[0]!.id,
          disks: [{ sizeMiB: 16, fill: 0.1 }],
          guestOs: 'linux',
          tools: true,
          applications: [],
          quiesceBroken: false,
          acceleration: { mode: 'write-through', peers: 0 },
          workload: { rateKBps: 0, pattern: 'random', blockKiB: 4 },
        },
      }));
    return [...this.topology.vms.map((spec) => ({ spec, isProxy: false })), ...proxies];
  }

  private async build(): Promise<void> {
    const started = Date.now();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-lab-build-'));
    try {
      const oses = [...new Set(this.topology.vms.map((v) => v.guestOs))];
      const templates = new Map<string, Array<{ rel: string; size: number }>>();
      for (const o of oses) templates.set(o, buildOsTemplate(path.join(work, `os-${o}`), this.seed, o, 24 * MiB));
      for (const { spec } of this.allVmSpecs()) {
        spec.disks.forEach((d, i) => {
          buildDiskImage({
            file: this.diskFile(spec, i, d.datastore ?? spec.datastore),
            sizeBytes: d.sizeMiB * MiB,
            fill: d.fill,
            vmName: spec.name,
            diskIndex: i,
            seed: this.seed,
            osTemplateDir: path.join(work, `os-${spec.guestOs}`),
            osTemplateFiles: templates.get(spec.guestOs) ?? [],
            workDir: work,
          });
        });
      }
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
    for (const h of this.allHosts()) fs.mkdirSync(this.p('hosts', h.id), { recursive: true });
    fs.mkdirSync(this.p('redo'), { recursive: true });
    fs.mkdirSync(this.p('snapshots'), { recursive: true });
    const now = this.clock.now();
    const proxyUuid = (name: string) => seededUuid(this.seed, `vm/${name}`);
    const s: PersistedState = {
      version: 1,
      seed: this.seed,
      createdAt: now,
      cleanShutdown: true,
      vms: Object.fromEntries(
        this.allVmSpecs().map(({ spec }) => [vmIdOf(spec.name), { hostId: spec.host, policy: this.configuredPolicy(spec), pin: null, diskSizes: spec.disks.map((d) => d.sizeMiB * MiB) }]),
      ),
      snapshots: {},
      keys: {},
      removals: {},
      oracle: {},
      blacklist: this.topology.blacklist.map((name) => ({ uuid: proxyUuid(name), name, addedAt: now })),
      clusters: Object.fromEntries(this.topology.failoverClusters.map((f) => [f.id, { activeVmId: vmIdOf(f.active), heartbeatDelayMs: f.heartbeatDelayMs, heartbeatThreshold: f.heartbeatThreshold }])),
      hosts: Object.fromEntries(this.allHosts().map((h) => [h.id, { state: 'connected' as const, downUntil: null }])),
      counters: { eventSeq: 0, pollutionBytes: {}, nbdBytes: {}, nbdCpuMs: {} },
      faults: { quiesceFailures: {}, slowDestage: {}, slowNetwork: {}, bursts: {}, paused: {} },
      scheduleCursor: 0,
      nextSnapshotNo: 1,
    };
    saveState(this.p('state.json'), s);
    this.log.info({ ms: Date.now() - started, vms: this.topology.vms.length }, 'lab data center created');
  }

  configuredPolicy(spec: VmSpec): AccelerationPolicy {
    return spec.acceleration.mode === 'write-back' ? { mode: 'write-back', peers: spec.acceleration.peers as 0 | 1 | 2 } : { mode: 'write-through' };
  }

  private attachVm(spec: VmSpec, isProxy: boolean): void {
    const id = vmIdOf(spec.name);
    const disks = spec.disks.map((d, i) => {
      const cbtMeta = this.readJson<{ epoch: string; seq: number }>(this.p('cbt', `${id}-d${i}.json`));
      const changed = readU32(this.p('cbt', `${id}-d${i}.changed`));
      const alloc = readU8(this.p('cbt', `${id}-d${i}.alloc`));
      const vd = new VirtualDisk({
        vmId: id,
        index: i,
        datastoreId: d.datastore ?? spec.datastore,
        baseFile: this.diskFile(spec, i, d.datastore ?? spec.datastore),
        ...(cbtMeta && changed ? { cbt: { epoch: cbtMeta.epoch, seq: cbtMeta.seq, changed } } : {}),
        ...(alloc ? { allocated: alloc } : {}),
      });
      if (!alloc) vd.rescanAllocation();
      return vd;
    });
    this.vms.set(id, {
      id,
      uuid: seededUuid(this.seed, `vm/${spec.name}`),
      spec,
      isProxy,
      disks,
      gate: null,
      openGate: null,
      seqPointer: PARTITION_OFFSET,
      writePool: seededBytes(this.seed, `writes/${spec.name}`, 2 * MiB),
      writePoolPos: 0,
      carry: 0,
      rand: rngFor(this.seed, `workload/${spec.name}`),
    });
  }

  private readJson<T>(file: string): T | null {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
    } catch {
      return null;
    }
  }

  /** Saves change tracking and allocation maps (clean stop). */
  private saveDiskMaps(): void {
    for (const vm of this.vms.values()) {
      for (const d of vm.disks) {
        writeArray(this.p('cbt', `${vm.id}-d${d.index}.changed`), d.cbt.changed);
        writeArray(this.p('cbt', `${vm.id}-d${d.index}.alloc`), d.allocated);
        fs.writeFileSync(this.p('cbt', `${vm.id}-d${d.index}.json`), JSON.stringify({ epoch: d.cbt.epoch, seq: d.cbt.seq }));
      }
    }
  }

  persist(): void {
    saveState(this.p('state.json'), this.state);
  }

  /** Coalesces frequent small changes (counters) into one write per tick. */
  private persistSoon(): void {
    this.persistQueued = true;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.lastTick = this.clock.now();
    this.timer = (async () => {
      while (this.running) {
        try {
          await this.clock.sleep(TICK_MS);
        } catch {
          break;
        }
        if (!this.running) break;
        try {
          this.tick();
        } catch (e) {
          this.log.error({ err: e }, 'lab tick failed');
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.timer;
    this.timer = null;
    for (const rt of this.snapRt.values()) await rt.removing?.catch(() => undefined);
    for (const c of this.caches.values()) c.sync();
    for (const vm of this.vms.values()) for (const d of vm.disks) for (const l of d.layers) l.journal.sync();
    this.saveDiskMaps();
    this.state.cleanShutdown = true;
    this.persist();
    for (const c of this.caches.values()) c.close();
    for (const vm of this.vms.values()) for (const d of vm.disks) d.close();
  }

  // ---------------------------------------------------------------------------------- events

  private loadEvents(): void {
    const f = this.p('events.jsonl');
    if (!fs.existsSync(f)) return;
    const lines = fs.readFileSync(f, 'utf8').trim().split('\n').filter(Boolean);
    this.events = lines.slice(-EVENT_MEMORY).flatMap((l) => {
      try {
        return [JSON.parse(l) as LabEvent];
      } catch {
        return [];
      }
    });
    const maxId = this.events.reduce((a, e) => Math.max(a, e.id), 0);
    if (this.state) this.state.counters.eventSeq = Math.max(this.state.counters.eventSeq, maxId);
  }

  event(kind: string, message: string, extra: { vmId?: string; hostId?: string; data?: Record<string, unknown> }): LabEvent {
    this.state.counters.eventSeq++;
    const e: LabEvent = { id: this.state.counters.eventSeq, at: this.clock.now(), kind, message, ...extra };
    this.events.push(e);
    if (this.events.length > EVENT_MEMORY) this.events.splice(0, this.events.length - EVENT_MEMORY);
    fs.appendFileSync(this.p('events.jsonl'), `${JSON.stringify(e)}\n`);
    this.log.info({ kind, ...extra }, message);
    return e;
  }

  listEvents(opts: { sinceId?: number; limit?: number; kinds?: string[] } = {}): LabEvent[] {
    const out = this.events.filter((e) => (opts.sinceId === undefined || e.id > opts.sinceId) && (!opts.kinds || opts.kinds.includes(e.kind)));
    return out.slice(-(opts.limit ?? 200)).reverse();
  }

  allEvents(): LabEvent[] {
    return [...this.events];
  }

  // --------------------------------------------------------------------------------- helpers

  vm(id: string): LabVm {
    const v = this.vms.get(id);
    if (!v) throw new ConnectorError('NOT_FOUND', `VM ${id} not found`);
    return v;
  }

  findVm(ref: string): LabVm | null {
    for (const v of this.vms.values()) if (v.id === ref || v.uuid === ref || v.spec.name === ref) return v;
    return null;
  }

  hostOf(vm: LabVm): string {
    return this.state.vms[vm.id]!.hostId;
  }

  clusterOfHost(hostId: string): string {
    return this.allHosts().find((h) => h.id === hostId)!.clusterId;
  }

  hostSpec(hostId: string) {
    const h = this.allHosts().find((x) => x.id === hostId);
    if (!h) throw new ConnectorError('NOT_FOUND', `host ${hostId} not found`);
    return h;
  }

  cacheOf(hostId: string): HostCache {
    return this.caches.get(hostId)!;
  }

  policy(vm: LabVm): AccelerationPolicy {
    return this.state.vms[vm.id]!.policy;
  }

  snapshotOf(vmId: string): SnapshotRecord | null {
    return Object.values(this.state.snapshots).find((s) => s.vmId === vmId) ?? null;
  }

  hostUp(hostId: string): boolean {
    return this.state.hosts[hostId]?.state === 'connected';
  }

  private async passGate(vm: LabVm): Promise<void> {
    while (vm.gate) await vm.gate;
  }

  /** Pauses a VM's writes (freeze, stun). Returns the function that resumes them. */
  freeze(vm: LabVm): () => void {
    const prev = vm.gate;
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    vm.gate = gate;
    vm.openGate = open;
    return () => {
      if (vm.gate === gate) {
        vm.gate = prev;
        vm.openGate = null;
      }
      open();
    };
  }

  // --------------------------------------------------------------------------- guest writes

  /** A guest write: change tracking, then the host's flash (write-back) or the top layer's file. */
  guestWrite(vm: LabVm, diskIndex: number, offset: number, data: Buffer): void {
    const disk = vm.disks[diskIndex]!;
    if (offset % BLOCK || data.length % BLOCK || offset + data.length > disk.sizeBytes) throw new Error('unaligned guest write');
    disk.track(offset, data.length);
    const layerId = disk.topLayerId;
    const policy = this.policy(vm);
    if (policy.mode === 'write-back') this.cacheOf(this.hostOf(vm)).put(cacheKey(vm.id, diskIndex, layerId), offset / BLOCK, data, this.clock.now());
    else disk.writeLayer(layerId, offset / BLOCK, data);
  }

  /** What the guest reads: newest layer first, the host cache over each layer's file. */
  guestRead(vm: LabVm, diskIndex: number, offset: number, length: number): Buffer {
    const disk = vm.disks[diskIndex]!;
    const cache = this.cacheOf(this.hostOf(vm));
    const out = disk.readBase(offset, length);
    const layers = ['base', ...disk.layers.map((l) => l.id)];
    for (let b = offset / BLOCK; b < (offset + length) / BLOCK; b++) {
      const at = (b - offset / BLOCK) * BLOCK;
      for (let i = layers.length - 1; i >= 0; i--) {
        const lid = layers[i]!;
        const dirty = cache.get(cacheKey(vm.id, diskIndex, lid), b);
        if (dirty) {
          dirty.copy(out, at);
          break;
        }
        if (lid === 'base') break;
        if (disk.layer(lid)!.read(b, out, at)) break;
      }
    }
    return out;
  }

  private workloadTick(dt: number): void {
    const now = this.clock.now();
    for (const vm of this.vms.values()) {
      if (vm.isProxy || vm.gate || !this.hostUp(this.hostOf(vm))) continue;
      if ((this.state.faults.paused[vm.id] ?? 0) > now) continue;
      const w = vm.spec.workload;
      if (w.rateKBps <= 0) continue;
      const burst = this.state.faults.bursts[vm.id];
      const factor = burst && burst.until > now ? burst.factor : 1;
      const block = w.blockKiB * 1024;
      vm.carry += (w.rateKBps * 1024 * factor * dt) / 1000;
      let guard = 0;
      while (vm.carry >= block && guard++ < 10_000) {
        vm.carry -= block;
        const d = Math.floor(vm.rand() * vm.disks.length);
        const disk = vm.disks[d]!;
        const lo = PARTITION_OFFSET;
        const span = disk.sizeBytes - lo - block;
        if (span <= 0) continue;
        let off: number;
        if (w.pattern === 'sequential') {
          off = vm.seqPointer;
          vm.seqPointer += block;
          if (vm.seqPointer + block > disk.sizeBytes) vm.seqPointer = lo;
          if (off + block > disk.sizeBytes) off = lo;
        } else if (w.pattern === 'hotspot' && vm.rand() < 0.8) off = lo + Math.floor(vm.rand() * span * 0.1);
        else off = lo + Math.floor(vm.rand() * span);
        off -= off % BLOCK;
        if (vm.writePoolPos + block > vm.writePool.length) vm.writePoolPos = Math.floor(vm.rand() * 256) * BLOCK;
        const data = Buffer.from(vm.writePool.subarray(vm.writePoolPos, vm.writePoolPos + block));
        // Every write is new content (the pool is shared by all writes of this VM).
        data.writeDoubleLE(now + guard, 0);
        vm.writePoolPos += block;
        this.guestWrite(vm, d, off, data);
      }
    }
  }

  // ---------------------------------------------------------------------------------- destage

  /** Bandwidth NBD reads get through a host now (bytes per lab second). */
  networkRate(hostId: string): number {
    const slow = this.state.faults.slowNetwork?.[hostId];
    return this.hostSpec(hostId).networkMBps * MiB * (slow && slow.until > this.clock.now() ? slow.factor : 1);
  }

  destageRate(hostId: string): number {
    const h = this.hostSpec(hostId);
    const slow = this.state.faults.slowDestage[hostId];
    return h.destageMBps * MiB * (slow && slow.until > this.clock.now() ? slow.factor : 1);
  }

  /**
   * Writes dirty blocks of a host to their layers' files, oldest first; `only` limits it to some
   * keys; `olderThan` leaves blocks written after that lab time (background destage lags the guest).
   */
  destage(hostId: string, budgetBytes: number, only?: (key: string) => boolean, olderThan = Infinity): number {
    const cache = this.cacheOf(hostId);
    let done = 0;
    for (const [key, blocks] of cache.dirty) {
      if (done >= budgetBytes) break;
      if (only && !only(key)) continue;
      const { vmId, disk, layerId } = parseCacheKey(key);
      const vd = this.vms.get(vmId)?.disks[disk];
      if (!vd || (layerId !== 'base' && !vd.layer(layerId))) continue;
      // Oldest first; stop at the first block younger than the destage lag.
      const batch: Array<[number, DirtyBlock]> = [];
      for (const [b, entry] of blocks) {
        if (done + batch.length * BLOCK >= budgetBytes || entry.at > olderThan) break;
        batch.push([b, entry]);
      }
      batch.sort((x, y) => x[0] - y[0]);
      // Contiguous blocks go down in one write.
      for (let i = 0; i < batch.length; ) {
        let j = i + 1;
        while (j < batch.length && batch[j]![0] === batch[j - 1]![0] + 1) j++;
        const run = batch.slice(i, j);
        vd.writeLayer(layerId, run[0]![0], run.length === 1 ? run[0]![1].data : Buffer.concat(run.map((r) => r[1].data)));
        i = j;
      }
      for (const [b, entry] of batch) cache.clean(key, b, entry);
      done += batch.length * BLOCK;
    }
    return done;
  }

  /** Destages one VM's dirty data (all of it, or one disk/layer), taking the time the host's rate needs. */
  async destageVm(vm: LabVm, opts: { disk?: number; layerId?: string; timeoutMs?: number } = {}): Promise<boolean> {
    const started = this.clock.now();
    const match = (k: string) => {
      const p = parseCacheKey(k);
      return p.vmId === vm.id && (opts.disk === undefined || p.disk === opts.disk) && (opts.layerId === undefined || p.layerId === opts.layerId);
    };
    for (;;) {
      const host = this.hostOf(vm);
      const pending = this.cacheOf(host).keysOf(vm.id).filter(match).reduce((a, k) => a + (this.cacheOf(host).dirty.get(k)?.size ?? 0) * BLOCK, 0);
      if (pending === 0) return true;
      if (opts.timeoutMs !== undefined && this.clock.now() - started >= opts.timeoutMs) return false;
      const slice = Math.min(pending, Math.max(BLOCK, Math.floor((this.destageRate(host) * TICK_MS) / 1000)));
      this.destage(host, slice, match);
      await this.clock.sleep((slice / this.destageRate(host)) * 1000);
    }
  }

  // ------------------------------------------------------------------------------------- tick

  private tick(): void {
    const now = this.clock.now();
    const dt = Math.min(5_000, now - this.lastTick);
    this.lastTick = now;
    this.applySchedule(now);
    this.recoverHosts(now);
    if (this.workloads) this.workloadTick(dt);
    for (const h of this.allHosts()) if (this.hostUp(h.id)) this.destage(h.id, (this.destageRate(h.id) * dt) / 1000, undefined, now - h.destageDelaySec * 1000);
    if (this.scenario.drs === 'seeded') this.seededDrs(now);
    if (this.persistQueued) {
      this.persistQueued = false;
      this.persist();
    }
  }

  private applySchedule(now: number): void {
    const sched = this.scenario.schedule;
    while (this.state.scheduleCursor < sched.length && sched[this.state.scheduleCursor]!.atMs + this.state.createdAt <= now) {
      const ev = sched[this.state.scheduleCursor]!;
      this.state.scheduleCursor++;
      void this.applyFault(ev).catch((e) => this.log.error({ err: e, ev }, 'scheduled lab event failed'));
    }
  }

  private seededDrs(now: number): void {
    for (const c of this.topology.clusters) {
      if (!c.drs.enabled) continue;
      let next = this.nextDrsAt.get(c.id);
      if (next === undefined) {
        next = now + -Math.log(1 - this.drsRand()) * c.drs.meanIntervalSec * 1000;
        this.nextDrsAt.set(c.id, next);
      }
      if (now < next) continue;
      this.nextDrsAt.set(c.id, now + -Math.log(1 - this.drsRand()) * c.drs.meanIntervalSec * 1000);
      void this.drsMove(c.id, this.drsRand(), this.drsRand());
    }
  }

  // --------------------------------------------------------------------------------------- DRS

  /** DRS moves an unpinned VM to another host of its cluster; its dirty data is destaged first. */
  async drsMove(clusterId: string, pickVm: number, pickHost: number): Promise<void> {
    const hosts = this.allHosts().filter((h) => h.clusterId === clusterId && this.hostUp(h.id));
    const candidates = [...this.vms.values()].filter((v) => !v.isProxy && !v.gate && this.clusterOfHost(this.hostOf(v)) === clusterId && !this.state.vms[v.id]!.pin && this.hostUp(this.hostOf(v)));
    if (candidates.length === 0 || hosts.length < 2) return;
    const vm = candidates[Math.floor(pickVm * candidates.length)]!;
    const from = this.hostOf(vm);
    const targets = hosts.filter((h) => h.id !== from);
    const to = targets[Math.floor(pickHost * targets.length)]!.id;
    const snap = this.snapshotOf(vm.id);
    if (snap) this.event('risky-move', `DRS moved ${vm.spec.name} from ${from} to ${to} while snapshot ${snap.id} was open`, { vmId: vm.id, hostId: to, data: { from, to, snapshotId: snap.id } });
    // The source host's cache holds the VM's dirty data: destage before the move completes.
    await this.destageVm(vm, { timeoutMs: 60_000 });
    if (this.state.vms[vm.id]!.pin || this.hostOf(vm) !== from) return;
    const src = this.cacheOf(from);
    for (const k of src.keysOf(vm.id)) src.moveKey(k, k, this.cacheOf(to));
    this.state.vms[vm.id]!.hostId = to;
    this.event('drs-move', `DRS moved ${vm.spec.name} from ${from} to ${to}`, { vmId: vm.id, hostId: to, data: { from, to } });
    this.persist();
  }

  // ------------------------------------------------------------------------------------ faults

  async applyFault(ev: ScheduledEvent | ({ kind: string } & Record<string, unknown>)): Promise<LabEvent> {
    const now = this.clock.now();
    const f = ev as ScheduledEvent;
    const vmNamed = (name: string) => {
      const v = this.findVm(name);
      if (!v) throw new ConnectorError('NOT_FOUND', `VM ${name} not found`);
      return v;
    };
    switch (f.kind) {
      case 'drs-move':
        await this.drsMove(f.clusterId, f.pickVm, f.pickHost);
        return this.event('fault', `scheduled DRS pass on ${f.clusterId}`, {});
      case 'host-crash':
        return this.crashHost(f.hostId, f.downMs);
      case 'quiesce-failure': {
        const key = f.vm ? vmNamed(f.vm).id : '*';
        this.state.faults.quiesceFailures[key] = (this.state.faults.quiesceFailures[key] ?? 0) + f.count;
        this.persist();
        return this.event('fault', `The next ${f.count} quiesce request(s)${f.vm ? ` of ${f.vm}` : ''} will fail`, { data: { fault: 'quiesce-failure', vm: f.vm, count: f.count } });
      }
      case 'cbt-reset': {
        const vm = vmNamed(f.vm);
        for (const d of vm.disks) if (f.disk === null || d.index === f.disk) d.resetCbt();
        return this.event('cbt-reset', `Changed-block tracking of ${vm.spec.name} was reset`, { vmId: vm.id, data: { fault: 'cbt-reset', disk: f.disk } });
      }
      case 'slow-destage': {
        this.hostSpec(f.hostId);
        this.state.faults.slowDestage[f.hostId] = { factor: f.factor, until: now + f.forMs };
        this.persist();
        return this.event('fault', `Destage on ${f.hostId} slowed to ${Math.round(f.factor * 100)} % for ${Math.round(f.forMs / 1000)} s`, { hostId: f.hostId, data: { fault: 'slow-destage', factor: f.factor, forMs: f.forMs } });
      }
      case 'slow-network': {
        this.hostSpec(f.hostId);
        (this.state.faults.slowNetwork ??= {})[f.hostId] = { factor: f.factor, until: now + f.forMs };
        this.persist();
        return this.event('fault', `NBD bandwidth of ${f.hostId} cut to ${Math.round(f.factor * 1000) / 10} % for ${Math.round(f.forMs / 1000)} s`, { hostId: f.hostId, data: { fault: 'slow-network', factor: f.factor, forMs: f.forMs } });
      }
      case 'burst-writes': {
        const vm = vmNamed(f.vm);
        this.state.faults.bursts[vm.id] = { factor: f.factor, until: now + f.forMs };
        this.persist();
        return this.event('fault', `${vm.spec.name} writes ${f.factor}× faster for ${Math.round(f.forMs / 1000)} s`, { vmId: vm.id, data: { fault: 'burst-writes', factor: f.factor, forMs: f.forMs } });
      }
      case 'resize-disk': {
        const vm = vmNamed(f.vm);
        const d = vm.disks[f.disk];
        if (!d) throw new ConnectorError('NOT_FOUND', `${vm.spec.name} has no disk ${f.disk}`);
        if (this.snapshotOf(vm.id)) throw new ConnectorError('CONFLICT', `${vm.spec.name} has an open snapshot; disks cannot be resized`);
        d.resize(d.sizeBytes + f.addMiB * MiB);
        this.state.vms[vm.id]!.diskSizes[f.disk] = d.sizeBytes;
        this.persist();
        return this.event('cbt-reset', `Disk ${f.disk} of ${vm.spec.name} grew by ${f.addMiB} MiB: change tracking was reset`, { vmId: vm.id, data: { fault: 'resize-disk', disk: f.disk, sizeBytes: d.sizeBytes } });
      }
      default:
        throw new ConnectorError('INVALID_ARGUMENT', `unknown fault ${(ev as { kind: string }).kind}; use host-crash, quiesce-failure, cbt-reset, slow-destage, slow-network, burst-writes or resize-disk`);
    }
  }

  /**
   * A host crash: write-back VMs without peers lose their dirty data; with peers it survives on
   * the peer hosts. Its VMs restart on the other hosts (HA) with change tracking reset; an active
   * failover-cluster node on it fails over.
   */
  crashHost(hostId: string, downMs: number): LabEvent {
    const host = this.hostSpec(hostId);
    if (!this.hostUp(hostId)) throw new ConnectorError('CONFLICT', `${hostId} is already down`);
    const cache = this.cacheOf(hostId);
    const others = this.allHosts().filter((h) => h.clusterId === host.clusterId && h.id !== hostId && this.hostUp(h.id));
    this.state.hosts[hostId] = { state: 'down', downUntil: this.clock.now() + downMs };
    const victims = [...this.vms.values()].filter((v) => this.hostOf(v) === hostId);
    const crash = this.event('host-crash', `${hostId} crashed (down for ${Math.round(downMs / 1000)} s); ${victims.length} VMs restart elsewhere`, { hostId, data: { downMs, vms: victims.map((v) => v.spec.name) } });
    victims.forEach((vm, i) => {
      const keys = cache.keysOf(vm.id);
      const policy = this.policy(vm);
      const dirty = keys.reduce((a, k) => a + (cache.dirty.get(k)?.size ?? 0) * BLOCK, 0);
      const target = others.length ? others[i % others.length]!.id : null;
      if (dirty > 0 && policy.mode === 'write-back' && policy.peers === 0) {
        const snap = this.snapshotOf(vm.id);
        if (snap && keys.some((k) => parseCacheKey(k).layerId === 'base')) snap.lostWrites = true;
        cache.drop(keys);
        this.event('dirty-data-lost', `${vm.spec.name} lost ${dirty} bytes of dirty write-back data (no peers)`, { vmId: vm.id, hostId, data: { bytes: dirty, snapshotId: snap?.id ?? null } });
      } else if (dirty > 0) {
        if (target) for (const k of keys) cache.moveKey(k, k, this.cacheOf(target));
        this.event('dirty-data-survived', `${vm.spec.name}'s ${dirty} dirty bytes survived on its ${'peers' in policy ? policy.peers : 0} peer host(s)`, { vmId: vm.id, hostId, data: { bytes: dirty } });
      }
      for (const d of vm.disks) d.resetCbt();
      if (target) {
        this.state.vms[vm.id]!.hostId = target;
        this.state.faults.paused[vm.id] = this.clock.now() + 20_000;
      }
      for (const [fcId, fc] of Object.entries(this.state.clusters)) {
        if (fc.activeVmId !== vm.id) continue;
        const spec = this.topology.failoverClusters.find((x) => x.id === fcId)!;
        const other = vmIdOf(spec.members.find((m) => vmIdOf(m) !== vm.id)!);
        fc.activeVmId = other;
        this.event('failover', `${spec.name} failed over from ${vm.spec.name} to ${this.vm(other).spec.name}: its host crashed`, { vmId: vm.id, hostId, data: { clusterId: fcId, cause: 'host-crash', from: vm.id, to: other, durationMs: 15_000 } });
      }
    });
    this.persist();
    return crash;
  }

  private recoverHosts(now: number): void {
    for (const [id, h] of Object.entries(this.state.hosts)) {
      if (h.state === 'down' && h.downUntil !== null && h.downUntil <= now) {
        this.state.hosts[id] = { state: 'connected', downUntil: null };
        this.event('host-recovered', `${id} is back`, { hostId: id });
        this.persist();
      }
    }
  }

  // --------------------------------------------------------------------------------- snapshots

  snapshotInfo(rec: SnapshotRecord): SnapshotInfo {
    const vm = this.vms.get(rec.vmId);
    return {
      id: rec.id,
      vmId: rec.vmId,
      name: rec.name,
      description: rec.description,
      idempotencyKey: rec.key,
      createdAt: rec.createdAt,
      consistency: rec.consistency,
      quiesceError: rec.quiesceError,
      lostWrites: rec.lostWrites,
      disks: rec.disks.map((d) => ({
        index: d.index,
        sizeBytes: d.sizeBytes,
        changeId: d.changeId,
        redoBytes: (vm?.disks[d.index]?.layers ?? []).reduce((a, l) => a + l.bytesWritten, 0),
      })),
    };
  }

  private quiesceOutcome(vm: LabVm): { ok: boolean; reason: string | null } {
    if (!vm.spec.tools) return { ok: false, reason: 'guest tools are not running' };
    if (vm.spec.quiesceBroken) return { ok: false, reason: 'a VSS writer of the guest failed (broken quiesce)' };
    for (const key of [vm.id, '*']) {
      const n = this.state.faults.quiesceFailures[key] ?? 0;
      if (n > 0) {
        this.state.faults.quiesceFailures[key] = n - 1;
        return { ok: false, reason: 'the guest reported a quiesce timeout (injected fault)' };
      }
    }
    return { ok: true, reason: null };
  }

  async createSnapshot(input: { vmId: string; name: string; description?: string; quiesce: boolean; requireQuiesce?: boolean; idempotencyKey: string }): Promise<SnapshotInfo> {
    const existingId = this.state.keys[input.idempotencyKey];
    if (existingId) {
      const rec = this.state.snapshots[existingId];
      if (rec) {
        await this.snapRt.get(rec.id)?.ready;
        return this.snapshotInfo(rec);
      }
      throw new ConnectorError('CONFLICT', `the snapshot created for ${input.idempotencyKey} has been removed already`);
    }
    const vm = this.vm(input.vmId);
    if (vm.isProxy) throw new ConnectorError('INVALID_ARGUMENT', `${vm.spec.name} is a backup proxy`);
    const host = this.hostOf(vm);
    if (!this.hostUp(host)) throw new ConnectorError('UNREACHABLE', `${vm.spec.name}'s host ${host} is down`);
    const open = this.snapshotOf(vm.id);
    if (open) throw new ConnectorError('CONFLICT', `${vm.spec.name} already has snapshot ${open.id} (${open.name}); remove it first`);

    let consistency: ConsistencyLevel = 'crash';
    let quiesceError: string | null = null;
    if (input.quiesce) {
      const q = this.quiesceOutcome(vm);
      if (q.ok) consistency = 'application';
      else {
        quiesceError = q.reason;
        if (input.requireQuiesce) {
          this.event('quiesce-failed', `Quiesce of ${vm.spec.name} failed: ${q.reason}`, { vmId: vm.id });
          this.persist();
          throw new ConnectorError('QUIESCE_FAILED', `quiesce of ${vm.spec.name} failed: ${q.reason}`);
        }
        this.event('quiesce-failed', `Quiesce of ${vm.spec.name} failed (${q.reason}); taking a crash-consistent snapshot`, { vmId: vm.id });
      }
    }
    // The freeze: no guest write between the layer switch of the disks.
    const thaw = this.freeze(vm);
    let rec: SnapshotRecord;
    const frozenDirty = new Map<number, Map<number, DirtyBlock>>();
    try {
      if (consistency === 'application') await this.clock.sleep(1_000); // applications flush and pause (VSS freeze)
      const id = `snap-${String(this.state.nextSnapshotNo++).padStart(6, '0')}-${randomBytes(3).toString('hex')}`;
      const cache = this.cacheOf(this.hostOf(vm));
      rec = { id, vmId: vm.id, name: input.name, description: input.description ?? '', key: input.idempotencyKey, createdAt: this.clock.now(), consistency, quiesceError, state: 'open', lostWrites: false, disks: [] };
      for (const d of vm.disks) {
        frozenDirty.set(d.index, new Map(cache.dirty.get(cacheKey(vm.id, d.index, 'base')) ?? []));
        const layerId = `${id}-d${d.index}`;
        d.layers.push(RedoLayer.create(layerId, this.p('redo', `${layerId}.journal`)));
        const changeId = `${d.cbt.epoch}:${d.cbt.seq}`;
        writeArray(this.p('snapshots', `${id}-d${d.index}.changed`), d.cbt.changed.slice());
        writeArray(this.p('snapshots', `${id}-d${d.index}.alloc`), d.allocated.slice());
        d.cbt.seq++;
        rec.disks.push({ index: d.index, sizeBytes: d.sizeBytes, changeId, layerIds: [layerId] });
      }
      this.state.snapshots[id] = rec;
      this.state.keys[input.idempotencyKey] = id;
      this.persist();
    } finally {
      thaw();
    }
    // The oracle hashes the frozen image in the background: it is fixed in memory, whatever the
    // guest, the destage or a host crash do next. Lookups and the removal wait for it.
    const ready = this.computeOracle(rec, frozenDirty).catch((e) => this.log.error({ err: e, snapshotId: rec.id }, 'oracle computation failed'));
    this.snapRt.set(rec.id, { frozenDirty, ready, removing: null, readers: 0 });
    this.event('snapshot-created', `Snapshot ${rec.id} of ${vm.spec.name} (${consistency}-consistent)`, { vmId: vm.id, data: { snapshotId: rec.id, consistency } });
    return this.snapshotInfo(rec);
  }

  /** After a restart: the frozen image is the base disk plus what is still dirty for it. */
  private currentFrozenView(rec: SnapshotRecord): Map<number, Map<number, DirtyBlock>> {
    const vm = this.vm(rec.vmId);
    const cache = this.cacheOf(this.hostOf(vm));
    return new Map(rec.disks.map((d) => [d.index, new Map(cache.dirty.get(cacheKey(vm.id, d.index, 'base')) ?? [])]));
  }

  /**
   * The oracle: the image digest (server/lib/image-digest.ts) of each disk exactly as the guest saw
   * it at the snapshot instant — the base disk with the dirty blocks the guest had written to it.
   */
  private async computeOracle(rec: SnapshotRecord, frozen: Map<number, Map<number, DirtyBlock>>): Promise<void> {
    const vm = this.vm(rec.vmId);
    const out: Record<string, { digest: string; sizeBytes: number }> = {};
    for (const d of rec.disks) {
      const disk = vm.disks[d.index]!;
      const dirty = frozen.get(d.index) ?? new Map<number, DirtyBlock>();
      const alloc = readU8(this.p('snapshots', `${rec.id}-d${d.index}.alloc`));
      const dirtyMiB = new Set([...dirty.keys()].map((b) => Math.floor((b * BLOCK) / DIGEST_BLOCK)));
      const digest = new ImageDigest();
      const buf = Buffer.alloc(DIGEST_BLOCK);
      for (let off = 0, i = 0; off < d.sizeBytes; off += DIGEST_BLOCK, i++) {
        const len = Math.min(DIGEST_BLOCK, d.sizeBytes - off);
        let empty = !!alloc && !dirtyMiB.has(i);
        for (let t = off / TRACK; empty && t < Math.ceil((off + len) / TRACK); t++) if (alloc![t]) empty = false;
        if (empty) {
          digest.zeros(len);
          continue;
        }
        const view = buf.subarray(0, len);
        disk.readBase(off, len, view, 0);
        for (let b = off / BLOCK; b < (off + len) / BLOCK; b++) dirty.get(b)?.data.copy(view, (b - off / BLOCK) * BLOCK);
        digest.update(view);
        if (i % 16 === 15) await new Promise((r) => setImmediate(r));
      }
      out[String(d.index)] = { digest: digest.digest(), sizeBytes: d.sizeBytes };
    }
    this.state.oracle[rec.id] = out;
    this.persist();
  }

  async oracle(snapshotId: string, diskIndex: number): Promise<{ digest: string; sizeBytes: number } | null> {
    await this.snapRt.get(snapshotId)?.ready;
    return this.state.oracle[snapshotId]?.[String(diskIndex)] ?? null;
  }

  queryChangedExtents(snapshotId: string, diskIndex: number, since: string | null): ChangedExtents {
    const rec = this.state.snapshots[snapshotId];
    if (!rec) throw new ConnectorError('NOT_FOUND', `snapshot ${snapshotId} not found`);
    const d = rec.disks.find((x) => x.index === diskIndex);
    if (!d) throw new ConnectorError('NOT_FOUND', `snapshot ${snapshotId} has no disk ${diskIndex}`);
    const changed = readU32(this.p('snapshots', `${snapshotId}-d${diskIndex}.changed`));
    const alloc = readU8(this.p('snapshots', `${snapshotId}-d${diskIndex}.alloc`));
    const toExtents = (flags: (t: number) => boolean): Extent[] => {
      const out: Extent[] = [];
      const n = Math.ceil(d.sizeBytes / TRACK);
      for (let t = 0; t < n; t++) {
        if (!flags(t)) continue;
        const off = t * TRACK;
        const len = Math.min(TRACK, d.sizeBytes - off);
        const last = out[out.length - 1];
        if (last && last[0] + last[1] === off) last[1] += len;
        else out.push([off, len]);
      }
      return out;
    };
    const full = (reason: string): ChangedExtents => ({ fullReadRequired: true, reason, extents: toExtents((t) => (alloc ? alloc[t] === 1 : true)) });
    if (!changed || !since) return full(since ? 'change tracking data is missing' : 'no earlier change id');
    const [epoch, seqS] = since.split(':');
    const [snapEpoch, snapSeqS] = d.changeId.split(':');
    if (epoch !== snapEpoch) return full('change tracking was reset since that change id (host crash, disk resize or restart)');
    const seq = Number(seqS);
    if (!Number.isFinite(seq) || seq > Number(snapSeqS)) return full('the change id is newer than the snapshot');
    return { fullReadRequired: false, reason: null, extents: toExtents((t) => changed[t]! > seq) };
  }

  snapshotAllocation(snapshotId: string, diskIndex: number): Uint8Array | null {
    return readU8(this.p('snapshots', `${snapshotId}-d${diskIndex}.alloc`));
  }

  runtimeOf(snapshotId: string): SnapshotRuntime | undefined {
    return this.snapRt.get(snapshotId);
  }

  /** The consolidation model's inputs for a VM. */
  costModel(vm: LabVm) {
    const now = this.clock.now();
    const burst = this.state.faults.bursts[vm.id];
    const factor = burst && burst.until > now ? burst.factor : 1;
    const rates = vm.disks.map((d) => this.topology.datastores.find((x) => x.id === d.datastoreId)!.consolidationMBps * MiB);
    return {
      writeBytesPerSec: vm.spec.workload.rateKBps * 1024 * factor,
      consolidationBytesPerSec: Math.min(...rates),
      stunPassMaxBytes: this.topology.snapshot.stunPassMaxMiB * MiB,
      maxPasses: this.topology.snapshot.maxPasses,
    };
  }

  async removeSnapshot(snapshotId: string): Promise<SnapshotRemoval> {
    const done = this.state.removals[snapshotId];
    if (done) return done;
    const rec = this.state.snapshots[snapshotId];
    if (!rec) return { snapshotId, removed: false, lifetimeMs: 0, redoBytes: 0, consolidationPasses: 0, stunMs: 0 };
    let rt = this.snapRt.get(snapshotId);
    if (!rt) {
      rt = { frozenDirty: new Map(), ready: Promise.resolve(), removing: null, readers: 0 };
      this.snapRt.set(snapshotId, rt);
    }
    await rt.ready;
    rt.removing ??= this.consolidate(rec);
    return rt.removing;
  }

  /**
   * Consolidation: passes merge the redo log into the base while the guest keeps writing into a
   * fresh delta; the last pass stuns the VM for as long as merging what is left takes. A guest that
   * writes faster than the datastore merges never converges: after maxPasses it is stunned for the rest.
   */
  private async consolidate(rec: SnapshotRecord): Promise<SnapshotRemoval> {
    const vm = this.vm(rec.vmId);
    rec.state = 'consolidating';
    this.persist();
    const model = this.costModel(vm);
    const rate = model.consolidationBytesPerSec;
    const redoBytes = vm.disks.reduce((a, d) => a + d.layers.reduce((x, l) => x + l.bytesWritten, 0), 0);
    let passes = 0;
    let stunMs = 0;
    for (;;) {
      const delta = vm.disks.reduce((a, d) => a + (d.layers[d.layers.length - 1]?.uniqueBytes ?? 0), 0);
      const last = delta <= model.stunPassMaxBytes || passes >= model.maxPasses - 1;
      if (last) {
        const thaw = this.freeze(vm);
        // The stun lasts as long as merging the last delta takes (the model's time, not the host's jitter).
        stunMs = Math.round((delta / rate) * 1000);
        try {
          for (const d of vm.disks) this.mergeAllLayers(vm, d);
          await this.clock.sleep(stunMs);
        } finally {
          thaw();
        }
        passes++;
        break;
      }
      // A helper delta takes the guest's writes while this pass merges the current one.
      for (const d of vm.disks) {
        const lid = `${rec.id}-d${d.index}-p${passes + 1}`;
        d.layers.push(RedoLayer.create(lid, this.p('redo', `${lid}.journal`)));
        rec.disks.find((x) => x.index === d.index)!.layerIds.push(lid);
      }
      this.persist();
      for (const d of vm.disks) this.mergeOldestLayer(vm, d);
      this.persist();
      await this.clock.sleep((delta / rate) * 1000);
      passes++;
    }
    const removal: SnapshotRemoval = { snapshotId: rec.id, removed: true, lifetimeMs: this.clock.now() - rec.createdAt, redoBytes, consolidationPasses: passes, stunMs };
    this.finishRemoval(rec, removal);
    this.checkStun(vm, stunMs);
    return removal;
  }

  private mergeOldestLayer(vm: LabVm, d: VirtualDisk): void {
    const layer = d.layers.shift();
    if (!layer) return;
    const buf = Buffer.alloc(BLOCK);
    for (const b of layer.blocks.keys()) {
      layer.read(b, buf, 0);
      d.writeBase(b * BLOCK, buf);
    }
    // Dirty writes the host still holds for the merged delta are newer than what it merged: they now belong to the base.
    const cache = this.cacheOf(this.hostOf(vm));
    cache.moveKey(cacheKey(vm.id, d.index, layer.id), cacheKey(vm.id, d.index, 'base'));
    layer.journal.remove();
  }

  private mergeAllLayers(vm: LabVm, d: VirtualDisk): void {
    while (d.layers.length) this.mergeOldestLayer(vm, d);
  }

  private finishRemoval(rec: SnapshotRecord, removal: SnapshotRemoval): void {
    delete this.state.snapshots[rec.id];
    this.state.removals[rec.id] = removal;
    const ids = Object.keys(this.state.removals);
    if (ids.length > 2_000) for (const id of ids.slice(0, ids.length - 2_000)) delete this.state.removals[id];
    for (const d of rec.disks) {
      fs.rmSync(this.p('snapshots', `${rec.id}-d${d.index}.changed`), { force: true });
      fs.rmSync(this.p('snapshots', `${rec.id}-d${d.index}.alloc`), { force: true });
    }
    this.persist();
    this.snapRt.delete(rec.id);
    this.event('snapshot-removed', `Snapshot ${rec.id} removed after ${Math.round(removal.lifetimeMs / 1000)} s: redo ${removal.redoBytes} bytes, ${removal.consolidationPasses} passes, stun ${removal.stunMs} ms`, {
      vmId: rec.vmId,
      data: { ...removal },
    });
  }

  private async finishConsolidationAfterCrash(rec: SnapshotRecord): Promise<void> {
    const vm = this.vm(rec.vmId);
    for (const d of vm.disks) this.mergeAllLayers(vm, d);
    this.finishRemoval(rec, { snapshotId: rec.id, removed: true, lifetimeMs: this.clock.now() - rec.createdAt, redoBytes: 0, consolidationPasses: 1, stunMs: 0 });
  }

  /** A stun longer than the heartbeat tolerance makes the cluster declare the active node dead. */
  private checkStun(vm: LabVm, stunMs: number): void {
    for (const [fcId, fc] of Object.entries(this.state.clusters)) {
      if (fc.activeVmId !== vm.id) continue;
      const tolerance = fc.heartbeatDelayMs * fc.heartbeatThreshold;
      if (stunMs <= tolerance) continue;
      const spec = this.topology.failoverClusters.find((x) => x.id === fcId)!;
      const other = vmIdOf(spec.members.find((m) => vmIdOf(m) !== vm.id)!);
      fc.activeVmId = other;
      this.persist();
      this.event('failover', `${spec.name} failed over from ${vm.spec.name} to ${this.vm(other).spec.name}: ${vm.spec.name} was stunned ${stunMs} ms (tolerance ${tolerance} ms)`, {
        vmId: vm.id,
        data: { clusterId: fcId, cause: 'snapshot-stun', from: vm.id, to: other, stunMs, toleranceMs: tolerance, durationMs: 15_000 },
      });
    }
  }

  // ------------------------------------------------------------------------------ DRS pins

  setPin(vmId: string, pinned: boolean, owner: string): void {
    const vm = this.vm(vmId);
    const st = this.state.vms[vm.id]!;
    if (pinned) st.pin = { owner, since: this.clock.now() };
    else if (st.pin && st.pin.owner !== owner && !owner.startsWith('admin:')) throw new ConnectorError('CONFLICT', `${vm.spec.name} is pinned by ${st.pin.owner}, not ${owner}`);
    else st.pin = null;
    this.persist();
  }

  setPolicy(vmId: string, policy: AccelerationPolicy): void {
    const vm = this.vm(vmId);
    const cur = this.policy(vm);
    if (cur.mode === policy.mode && (cur.mode === 'write-through' || (policy.mode === 'write-back' && cur.peers === policy.peers))) return;
    this.state.vms[vm.id]!.policy = policy;
    this.persist();
    this.event('cache-policy', `${vm.spec.name}: ${cur.mode}${cur.mode === 'write-back' ? ` (${cur.peers} peers)` : ''} → ${policy.mode}${policy.mode === 'write-back' ? ` (${policy.peers} peers)` : ''}`, { vmId: vm.id, data: { from: cur, to: policy } });
  }

  countPollution(hostId: string, bytes: number): void {
    this.state.counters.pollutionBytes[hostId] = (this.state.counters.pollutionBytes[hostId] ?? 0) + bytes;
    this.persistSoon();
  }

  countNbd(hostId: string, bytes: number): void {
    this.state.counters.nbdBytes[hostId] = (this.state.counters.nbdBytes[hostId] ?? 0) + bytes;
    // NBD costs the host about one CPU-second per 500 MB served.
    this.state.counters.nbdCpuMs[hostId] = (this.state.counters.nbdCpuMs[hostId] ?? 0) + bytes / 500_000;
    this.persistSoon();
  }
}
