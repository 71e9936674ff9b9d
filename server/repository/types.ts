/**
 * The data plane's contract with the engine. The repository on a storage unit is
 * self-describing: manifests and chunks alone list and restore every restore point.
 */
import type { Extent } from '@/server/connectors/types';

export type { Extent };

/** Something that can be read like a disk image (a file, a snapshot disk over a transport). */
export interface ImageSource {
  readonly sizeBytes: number;
  /** Returns a fresh buffer: the repository may take it over (transfer it to a worker thread). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Optional: fills `target` with the bytes at `offset` (lets the repository reuse its buffers). */
  readInto?(offset: number, target: Uint8Array): Promise<void>;
  /** Optional: extents that may hold data; everything else is known to be zeros and is not read. */
  allocatedExtents?(): Promise<Extent[]>;
  /**
   * Optional: a descriptor of the plain file or block device behind the source, open while the
   * backup runs. The repository's worker threads then read it themselves (its bytes never cross
   * threads).
   */
  readonly fd?: number;
}

export interface BackupDiskInput {
  index: number;
  label?: string;
  source: ImageSource;
  /**
   * Only these extents changed since the parent point's disk with the same index; every other
   * byte is taken from the parent without reading it. Omit for a full read.
   */
  changedExtents?: Extent[];
}

export interface BackupProgress {
  bytesTotal: number;
  bytesDone: number;
  bytesRead: number;
  storedBytesAdded: number;
}

export interface BackupInput {
  /** The restore-point series (a VM's UUID, an image NAME): "latest" and parents are per series. */
  series: string;
  /** Point whose disks supply unchanged regions when `changedExtents` is given. */
  parentPointId?: string | null;
  disks: BackupDiskInput[];
  /** Stored in the manifest as-is (VM name, job id, consistency level, snapshot id, …). */
  meta?: Record<string, unknown>;
  /** Manifest id to use (lets the engine make a retried transfer idempotent); generated when absent. */
  pointId?: string;
  signal?: AbortSignal;
  onProgress?: (p: BackupProgress) => void;
  /**
   * Called when every byte is read and stored, just before the manifest is written: throwing here
   * (the source turned out not to be the image it claimed) leaves no restore point behind.
   */
  beforeCommit?: () => Promise<void>;
}

export interface BackupDiskResult {
  index: number;
  logicalBytes: number;
  bytesRead: number;
  storedBytesAdded: number;
}

export interface BackupResult {
  pointId: string;
  series: string;
  createdAt: string;
  logicalBytes: number;
  bytesRead: number;
  storedBytesAdded: number;
  seconds: number;
  disks: BackupDiskResult[];
}

export interface PointDiskSummary {
  index: number;
  label: string;
  sizeBytes: number;
}

export interface PointSummary {
  id: string;
  series: string;
  createdAt: string;
  parentPointId: string | null;
  logicalBytes: number;
  disks: PointDiskSummary[];
  meta: Record<string, unknown>;
}

export interface RestoreDiskResult {
  bytesWritten: number;
  sizeBytes: number;
  /** Image digest (server/lib/image-digest.ts) of the restored bytes, comparable with the lab's oracle (null when not asked for). */
  digest: string | null;
  seconds: number;
}

export interface RepoStats {
  logicalBytes: number;
  storedBytes: number;
  chunks: number;
  dedupRatio: number;
  points: number;
}

export interface VerifyReport {
  ok: boolean;
  chunksChecked: number;
  bytesChecked: number;
  damagedChunks: Array<{ id: string; problem: string; points: string[] }>;
  brokenPoints: string[];
  seconds: number;
}

export interface Repository {
  readonly path: string;
  backup(input: BackupInput): Promise<BackupResult>;
  listPoints(filter?: { series?: string }): Promise<PointSummary[]>;
  getPoint(pointId: string): Promise<PointSummary>;
  latestPoint(series: string): Promise<PointSummary | null>;
  /**
   * Restore one disk to a file (sparse: zero chunks become holes); every chunk is checked against
   * its id. Computes the image digest unless `digest: false`.
   */
  restoreDisk(input: { pointId: string; diskIndex: number; outPath: string; signal?: AbortSignal; onProgress?: (bytesDone: number) => void; digest?: boolean }): Promise<RestoreDiskResult>;
  /** Image digest of one disk as a restore would produce it, without writing anything (zero runs cost nothing). */
  digestDisk(input: { pointId: string; diskIndex: number; signal?: AbortSignal }): Promise<{ digest: string; sizeBytes: number }>;
  stats(): Promise<RepoStats>;
  verify(input?: { pointId?: string; signal?: AbortSignal }): Promise<VerifyReport>;
  close(): Promise<void>;
}
