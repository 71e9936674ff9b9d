import fs from 'node:fs';
import path from 'node:path';
import type { AccelerationPolicy, BlacklistEntry, ConsistencyLevel, SnapshotRemoval } from '@/server/connectors/types';

/** Everything about the lab that must survive a restart of its process (kill -9 included). */
export interface SnapshotRecord {
  id: string;
  vmId: string;
  name: string;
  description: string;
  key: string | null;
  createdAt: number;
  consistency: ConsistencyLevel;
  quiesceError: string | null;
  state: 'open' | 'consolidating';
  /** Dirty data the guest had written before the snapshot was lost (host crash, no peers). */
  lostWrites: boolean;
  disks: Array<{ index: number; sizeBytes: number; changeId: string; layerIds: string[] }>;
}

export interface LabEvent {
  id: number;
  at: number;
  kind: string;
  message: string;
  vmId?: string;
  hostId?: string;
  data?: Record<string, unknown>;
}

export interface PersistedState {
  version: 1;
  seed: number;
  createdAt: number;
  cleanShutdown: boolean;
  vms: Record<string, { hostId: string; policy: AccelerationPolicy; pin: { owner: string; since: number } | null; diskSizes: number[] }>;
  snapshots: Record<string, SnapshotRecord>;
  /** Create idempotency keys → snapshot id. */
  keys: Record<string, string>;
  /** Completed removals, for idempotent repeats. */
  removals: Record<string, SnapshotRemoval>;
  oracle: Record<string, Record<string, { digest: string; sizeBytes: number }>>;
  blacklist: BlacklistEntry[];
  clusters: Record<string, { activeVmId: string; heartbeatDelayMs: number; heartbeatThreshold: number }>;
  hosts: Record<string, { state: 'connected' | 'down'; downUntil: number | null }>;
  counters: { eventSeq: number; pollutionBytes: Record<string, number>; nbdBytes: Record<string, number>; nbdCpuMs: Record<string, number> };
  faults: {
    quiesceFailures: Record<string, number>;
    slowDestage: Record<string, { factor: number; until: number }>;
    /** NBD bandwidth of a host cut to a share (absent in labs persisted before this fault existed). */
    slowNetwork?: Record<string, { factor: number; until: number }>;
    bursts: Record<string, { factor: number; until: number }>;
    paused: Record<string, number>;
  };
  /** Index of the next scenario event to apply. */
  scheduleCursor: number;
  nextSnapshotNo: number;
}

export function saveState(file: string, s: PersistedState): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, JSON.stringify(s));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

export function loadState(file: string): PersistedState | null {
  if (!fs.existsSync(file)) return null;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as PersistedState;
}

/** Binary side files (change tracking and allocation maps). */
export function writeArray(file: string, a: Uint32Array | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  fs.renameSync(tmp, file);
}

export function readU32(file: string): Uint32Array | null {
  if (!fs.existsSync(file)) return null;
  const b = fs.readFileSync(file);
  return new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export function readU8(file: string): Uint8Array | null {
  if (!fs.existsSync(file)) return null;
  return new Uint8Array(fs.readFileSync(file));
}
