/**
 * Connector interfaces: one per outside system. The engine and the domain modules only ever
 * talk to these; each implementation lives in its own folder (lab/, later vsphere/, qemu/).
 *
 * Rules for every implementation:
 * - all methods are async and take/return plain JSON-serialisable data (except disk reads,
 *   which return bytes), so a connector can sit behind a process or network boundary;
 * - mutating calls take an `idempotencyKey`; calling again with the same key returns the
 *   first call's outcome instead of acting twice (the engine retries after crashes);
 * - errors are `ConnectorError`s with a stable `code`.
 */

/** [offset, length] in bytes. */
export type Extent = [offset: number, length: number];

export type TransportMode = 'directsan' | 'hotadd' | 'nbd';
export const TRANSPORT_MODES: readonly TransportMode[] = ['directsan', 'hotadd', 'nbd'];

export type ConsistencyLevel = 'application' | 'crash';

export type ConnectorErrorCode =
  | 'NOT_FOUND'
  | 'INVALID_ARGUMENT'
  | 'CONFLICT' // e.g. a snapshot already open, a VM busy
  | 'UNREACHABLE' // the proxy cannot reach the datastore, the host is down
  | 'QUIESCE_FAILED'
  | 'TIMEOUT'
  | 'CONFIRMATION_REQUIRED'
  | 'CHANGE_ID_INVALID'
  | 'INTERNAL';

export class ConnectorError extends Error {
  readonly code: ConnectorErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ConnectorErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'ConnectorError';
    this.code = code;
    this.details = details;
  }
}

export function isConnectorError(e: unknown, code?: ConnectorErrorCode): e is ConnectorError {
  const ok = e instanceof ConnectorError || (typeof e === 'object' && e !== null && (e as { name?: string }).name === 'ConnectorError');
  return ok && (code === undefined || (e as ConnectorError).code === code);
}

// ---------------------------------------------------------------------------------------------
// Inventory

export interface VCenterInfo {
  id: string;
  name: string;
}

export interface ClusterInfo {
  id: string;
  name: string;
  vcenterId: string;
  drsEnabled: boolean;
}

export interface HostInfo {
  id: string;
  name: string;
  clusterId: string;
  state: 'connected' | 'down';
  /** Network bandwidth available to NBD reads, bytes per second. */
  networkBytesPerSec: number;
  cpuUsagePct: number;
}

export interface DatastoreInfo {
  id: string;
  name: string;
  kind: 'san' | 'nfs';
  capacityBytes: number;
  usedBytes: number;
}

export interface VmDiskInfo {
  index: number;
  label: string;
  sizeBytes: number;
  datastoreId: string;
}

export interface VmInfo {
  /** Stable id used by this connector (never changes with a rename). */
  id: string;
  /** The VM's BIOS UUID (what the cache layer's blacklist keys on). */
  uuid: string;
  name: string;
  /** Folder path, e.g. "/prod/web". */
  folder: string;
  tags: string[];
  hostId: string;
  clusterId: string;
  powerState: 'on' | 'off';
  guestOs: string;
  guestToolsRunning: boolean;
  /** Applications that a quiesce must flush (e.g. "sql", "exchange"); empty = file systems only. */
  applications: string[];
  disks: VmDiskInfo[];
  /** A proxy VM (backup appliance) rather than a protected workload. */
  isProxy: boolean;
  /** Failover cluster this VM is a member of, if any. */
  failoverClusterId: string | null;
  drsPinned: boolean;
}

export interface Inventory {
  vcenters: VCenterInfo[];
  clusters: ClusterInfo[];
  hosts: HostInfo[];
  datastores: DatastoreInfo[];
  vms: VmInfo[];
}

// ---------------------------------------------------------------------------------------------
// Snapshots, change tracking and disk reads

export interface SnapshotDiskInfo {
  index: number;
  sizeBytes: number;
  /** Change id of this disk at the snapshot instant; pass it as `sinceChangeId` next time. */
  changeId: string;
  /** Bytes written to this disk's redo log since the snapshot was taken. */
  redoBytes: number;
}

export interface SnapshotInfo {
  id: string;
  vmId: string;
  name: string;
  /** Whatever the caller passed (the engine uses it to find the owning job). */
  description: string;
  idempotencyKey: string | null;
  createdAt: number;
  consistency: ConsistencyLevel;
  /** Set when quiesce was asked for but not achieved. */
  quiesceError: string | null;
  /**
   * Writes the guest had made before the snapshot were lost afterwards (a host crash took dirty
   * write-back data with it): the snapshot no longer holds what the guest saw.
   */
  lostWrites?: boolean;
  disks: SnapshotDiskInfo[];
}

export interface CreateSnapshotInput {
  vmId: string;
  name: string;
  description?: string;
  /** Ask the guest to quiesce; when it cannot, `requireQuiesce` decides between failing and a crash-consistent snapshot. */
  quiesce: boolean;
  requireQuiesce?: boolean;
  idempotencyKey: string;
}

export interface SnapshotRemoval {
  snapshotId: string;
  /** False when no snapshot with that id/key existed (already removed): not an error. */
  removed: boolean;
  lifetimeMs: number;
  redoBytes: number;
  consolidationPasses: number;
  stunMs: number;
}

export interface ChangedExtents {
  /** True when tracking cannot answer (reset by a host crash or a resize, unknown change id): read the whole disk. */
  fullReadRequired: boolean;
  reason: string | null;
  /** Changed (or, for a full read, allocated) extents, sorted and non-overlapping. */
  extents: Extent[];
}

export interface OpenDiskInput {
  snapshotId: string;
  diskIndex: number;
  transport: TransportMode;
  /** The proxy that reads (required for hotadd and directsan; nbd reads may name one). */
  proxyId: string | null;
  idempotencyKey: string;
}

/** A snapshot disk opened over a transport. Reads beyond the disk's size are an error. */
export interface DiskReader {
  readonly sizeBytes: number;
  readonly transport: TransportMode;
  /** Extents that may hold data (everything else reads as zeros). */
  allocatedExtents(): Promise<Extent[]>;
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** What a snapshot of this VM will cost at removal, for the engine's stun guard (see server/engine/stun.ts). */
export interface SnapshotCostModel {
  /** Recent guest write rate over all the VM's disks. */
  writeBytesPerSec: number;
  /** Rate at which the VM's datastore merges a redo log into its base disk. */
  consolidationBytesPerSec: number;
  /** A consolidation pass whose delta is at most this size runs with the VM stunned (the last pass). */
  stunPassMaxBytes: number;
  /** After this many passes the remaining delta is merged with the VM stunned, however big. */
  maxPasses: number;
}

export interface HypervisorConnector {
  readonly kind: string;
  inventory(): Promise<Inventory>;
  getVm(vmId: string): Promise<VmInfo>;
  /** Find a VM by id, uuid or exact name. */
  findVm(ref: string): Promise<VmInfo | null>;

  createSnapshot(input: CreateSnapshotInput): Promise<SnapshotInfo>;
  /** Snapshots that exist now (of one VM, or all). */
  listSnapshots(vmId?: string): Promise<SnapshotInfo[]>;
  findSnapshotByKey(idempotencyKey: string): Promise<SnapshotInfo | null>;
  /** Remove (consolidate) a snapshot. Removing one that no longer exists returns `removed: false`. */
  removeSnapshot(input: { snapshotId: string; idempotencyKey: string }): Promise<SnapshotRemoval>;

  queryChangedExtents(input: { snapshotId: string; diskIndex: number; sinceChangeId: string | null }): Promise<ChangedExtents>;
  openDisk(input: OpenDiskInput): Promise<DiskReader>;

  /** Pin (disable DRS migration of) a VM, or unpin it. `owner` is recorded so orphans can be found. */
  setDrsPin(input: { vmId: string; pinned: boolean; owner: string; idempotencyKey: string }): Promise<void>;
  listDrsPins(): Promise<Array<{ vmId: string; owner: string; since: number }>>;

  listProxies(): Promise<ProxyInfo[]>;

  /** Optional: the inputs of the stun prediction. Connectors that cannot tell leave it out. */
  snapshotCostModel?(vmId: string): Promise<SnapshotCostModel>;
}

// ---------------------------------------------------------------------------------------------
// Proxies

export interface ProxyInfo {
  id: string;
  name: string;
  kind: 'vm' | 'physical';
  /** For VM proxies: the proxy VM's id and UUID and where it runs now. */
  vmId: string | null;
  uuid: string | null;
  hostId: string | null;
  transports: TransportMode[];
  /** Datastores this proxy can read with DirectSAN (SAN zoning); HotAdd needs a host that sees the datastore. */
  sanDatastoreIds: string[];
  maxTasks: number;
  activeTasks: number;
  cpuUsagePct: number;
  memoryUsagePct: number;
}

// ---------------------------------------------------------------------------------------------
// Write-back cache acceleration (FVP-like)

export type AccelerationPolicy = { mode: 'write-through' } | { mode: 'write-back'; peers: 0 | 1 | 2 };

export interface DirtyBytes {
  vmId: string;
  total: number;
  disks: Array<{ index: number; bytes: number }>;
}

export interface BlacklistEntry {
  uuid: string;
  /** Name when it was added (informational; the key is the UUID). */
  name: string;
  addedAt: number;
}

export interface CacheConnector {
  readonly kind: string;
  getPolicy(vmId: string): Promise<AccelerationPolicy>;
  setPolicy(input: { vmId: string; policy: AccelerationPolicy; idempotencyKey: string }): Promise<void>;
  dirtyBytes(vmId: string): Promise<DirtyBytes>;
  /** Wait (on the connector's clock) until the VM has no dirty bytes, at most `timeoutMs`. */
  waitUntilClean(input: { vmId: string; timeoutMs: number; signal?: AbortSignal }): Promise<{ clean: boolean; waitedMs: number; dirtyBytes: number }>;
  listBlacklist(): Promise<BlacklistEntry[]>;
  addToBlacklist(input: { uuid: string; name: string }): Promise<void>;
  /** Removal is deliberate: `confirm` must equal the entry's UUID or its current name. */
  removeFromBlacklist(input: { uuid: string; confirm: string }): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Guest (quiesce and failover-cluster settings)

export interface FailoverClusterInfo {
  id: string;
  name: string;
  memberVmIds: string[];
  activeVmId: string;
  heartbeatDelayMs: number;
  heartbeatThreshold: number;
}

export interface GuestConnector {
  readonly kind: string;
  quiesceCapability(vmId: string): Promise<{ canQuiesce: boolean; reason: string | null; applications: string[] }>;
  listFailoverClusters(): Promise<FailoverClusterInfo[]>;
  setHeartbeat(input: { clusterId: string; heartbeatDelayMs: number; heartbeatThreshold: number; idempotencyKey: string }): Promise<void>;
}

export interface Connectors {
  hypervisor: HypervisorConnector;
  cache: CacheConnector;
  guest: GuestConnector;
}
