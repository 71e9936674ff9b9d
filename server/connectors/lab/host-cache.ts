import fs from 'node:fs';
import { BLOCK, BlockJournal } from './journal';

/** Dirty data of one VM disk for one layer (the base disk, or a snapshot's redo log). */
export function cacheKey(vmId: string, disk: number, layerId: string): string {
  return `${vmId}/${disk}/${layerId}`;
}

export function parseCacheKey(key: string): { vmId: string; disk: number; layerId: string } {
  const [vmId, disk, layerId] = key.split('/') as [string, string, string];
  return { vmId, disk: Number(disk), layerId };
}

/**
 * A host's write-back flash cache: writes acknowledged from flash are held as dirty blocks until
 * destaged to the datastore. The flash is persistent (a journal), so a restart of the lab process
 * keeps dirty data; a host crash is what loses it (for VMs without peers).
 */
/** A dirty block: its data and when the guest wrote it (destage leaves young blocks for a while). */
export interface DirtyBlock {
  data: Buffer;
  at: number;
}

export class HostCache {
  readonly hostId: string;
  readonly dirty = new Map<string, Map<number, DirtyBlock>>();
  private journal: BlockJournal;
  private readonly file: string;
  private liveBytes = 0;

  constructor(hostId: string, file: string) {
    this.hostId = hostId;
    this.file = file;
    if (fs.existsSync(file)) {
      this.journal = BlockJournal.open(file, (r) => {
        if (r.type === 'data') {
          for (let i = 0; i < r.data.length / BLOCK; i++) this.setBlock(r.key, r.firstBlock + i, { data: Buffer.from(r.data.subarray(i * BLOCK, (i + 1) * BLOCK)), at: 0 });
        } else for (let i = 0; i < r.nBlocks; i++) this.dropBlock(r.key, r.firstBlock + i);
      });
    } else this.journal = BlockJournal.create(file);
  }

  private setBlock(key: string, block: number, data: DirtyBlock): void {
    let m = this.dirty.get(key);
    if (!m) {
      m = new Map();
      this.dirty.set(key, m);
    }
    if (!m.has(block)) this.liveBytes += BLOCK;
    m.delete(block); // re-insert: destage order follows the newest write
    m.set(block, data);
  }

  private dropBlock(key: string, block: number): void {
    const m = this.dirty.get(key);
    if (!m?.delete(block)) return;
    this.liveBytes -= BLOCK;
    if (m.size === 0) this.dirty.delete(key);
  }

  /** A write acknowledged from flash. */
  put(key: string, firstBlock: number, data: Buffer, at: number): void {
    this.journal.appendData(key, firstBlock, data);
    for (let i = 0; i < data.length / BLOCK; i++) this.setBlock(key, firstBlock + i, { data: Buffer.from(data.subarray(i * BLOCK, (i + 1) * BLOCK)), at });
    this.maybeCompact();
  }

  get(key: string, block: number): Buffer | undefined {
    return this.dirty.get(key)?.get(block)?.data;
  }

  /** Forgets blocks after they were destaged (only if unchanged since `entry` was taken). */
  clean(key: string, block: number, entry: DirtyBlock): boolean {
    if (this.dirty.get(key)?.get(block) !== entry) return false;
    this.dropBlock(key, block);
    this.journal.appendClean(key, block, 1);
    return true;
  }

  /** Moves every dirty block of one key to another (a redo log merged into the base; a VM changing hosts). */
  moveKey(from: string, to: string, into: HostCache = this): void {
    const m = this.dirty.get(from);
    if (!m) return;
    for (const [b, entry] of [...m]) {
      this.dropBlock(from, b);
      this.journal.appendClean(from, b, 1);
      into.put(to, b, entry.data, entry.at);
    }
  }

  /** A host crash: every dirty block of these keys is gone. Returns bytes lost. */
  drop(keys: string[]): number {
    let lost = 0;
    for (const k of keys) {
      const m = this.dirty.get(k);
      if (!m) continue;
      for (const b of [...m.keys()]) {
        this.dropBlock(k, b);
        this.journal.appendClean(k, b, 1);
        lost += BLOCK;
      }
    }
    return lost;
  }

  keysOf(vmId: string): string[] {
    return [...this.dirty.keys()].filter((k) => k.startsWith(`${vmId}/`));
  }

  dirtyBytes(vmId?: string, disk?: number): number {
    if (vmId === undefined) return this.liveBytes;
    let n = 0;
    for (const [k, m] of this.dirty) {
      const p = parseCacheKey(k);
      if (p.vmId === vmId && (disk === undefined || p.disk === disk)) n += m.size * BLOCK;
    }
    return n;
  }

  /** Rewrites the journal with only the live dirty blocks once it is mostly garbage. */
  private maybeCompact(): void {
    if (this.journal.size < 64 << 20 || this.journal.size < this.liveBytes * 3) return;
    const tmp = `${this.file}.compact`;
    const j = BlockJournal.create(tmp);
    for (const [k, m] of this.dirty) for (const [b, e] of m) j.appendData(k, b, e.data);
    j.sync();
    j.close();
    this.journal.close();
    fs.renameSync(tmp, this.file);
    this.journal = BlockJournal.open(this.file, () => undefined);
  }

  sync(): void {
    this.journal.sync();
  }

  close(): void {
    this.journal.close();
  }
}
