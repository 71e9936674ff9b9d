import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { BLOCK, BlockJournal } from './journal';

/** Changed-block tracking and allocation are kept per 64 KiB. */
export const TRACK = 64 * 1024;

/** A snapshot's redo log: writes made after the snapshot, as an append-only journal. */
export class RedoLayer {
  readonly id: string;
  readonly journal: BlockJournal;
  /** block → file offset of its newest data. */
  readonly blocks = new Map<number, number>();
  /** Bytes appended over the layer's life (what the datastore sees the delta grow by). */
  bytesWritten = 0;

  private constructor(id: string, journal: BlockJournal) {
    this.id = id;
    this.journal = journal;
  }

  static create(id: string, file: string): RedoLayer {
    return new RedoLayer(id, BlockJournal.create(file));
  }

  static open(id: string, file: string): RedoLayer {
    const blocks = new Map<number, number>();
    let bytes = 0;
    const j = BlockJournal.open(file, (r) => {
      if (r.type !== 'data') return;
      for (let i = 0; i < r.data.length / BLOCK; i++) blocks.set(r.firstBlock + i, r.offset + i * BLOCK);
      bytes += r.data.length;
    });
    const layer = new RedoLayer(id, j);
    for (const [b, o] of blocks) layer.blocks.set(b, o);
    layer.bytesWritten = bytes;
    return layer;
  }

  write(firstBlock: number, data: Buffer): void {
    const at = this.journal.appendData('', firstBlock, data);
    for (let i = 0; i < data.length / BLOCK; i++) this.blocks.set(firstBlock + i, at + i * BLOCK);
    this.bytesWritten += data.length;
  }

  read(block: number, into: Buffer, offset: number): boolean {
    const at = this.blocks.get(block);
    if (at === undefined) return false;
    this.journal.readAt(at, BLOCK, into, offset);
    return true;
  }

  /** Bytes of distinct blocks (what a consolidation pass must merge). */
  get uniqueBytes(): number {
    return this.blocks.size * BLOCK;
  }
}

export interface CbtState {
  epoch: string;
  seq: number;
  /** Per 64 KiB: the change sequence number of its last write. */
  changed: Uint32Array;
}

export function newCbt(sizeBytes: number): CbtState {
  return { epoch: randomBytes(6).toString('hex'), seq: 1, changed: new Uint32Array(Math.ceil(sizeBytes / TRACK)) };
}

/**
 * One virtual disk of a VM: the base file on its datastore, the redo layers of an open snapshot
 * (top = newest), changed-block tracking and a map of 64 KiB regions that may hold data.
 */
export class VirtualDisk {
  readonly vmId: string;
  readonly index: number;
  readonly datastoreId: string;
  readonly baseFile: string;
  sizeBytes: number;
  private fd: number;
  layers: RedoLayer[] = [];
  cbt: CbtState;
  allocated: Uint8Array;

  constructor(opts: { vmId: string; index: number; datastoreId: string; baseFile: string; cbt?: CbtState; allocated?: Uint8Array }) {
    this.vmId = opts.vmId;
    this.index = opts.index;
    this.datastoreId = opts.datastoreId;
    this.baseFile = opts.baseFile;
    this.fd = fs.openSync(opts.baseFile, 'r+');
    this.sizeBytes = fs.fstatSync(this.fd).size;
    this.cbt = opts.cbt ?? newCbt(this.sizeBytes);
    this.allocated = opts.allocated ?? new Uint8Array(Math.ceil(this.sizeBytes / TRACK));
  }

  get blocks(): number {
    return Math.ceil(this.sizeBytes / BLOCK);
  }

  /** The layer guest writes go to now ('base' without a snapshot). */
  get topLayerId(): string {
    return this.layers.length ? this.layers[this.layers.length - 1]!.id : 'base';
  }

  layer(id: string): RedoLayer | null {
    return this.layers.find((l) => l.id === id) ?? null;
  }

  readBase(offset: number, length: number, into?: Buffer, intoOffset = 0): Buffer {
    const buf = into ?? Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, intoOffset + done, length - done, offset + done);
      if (n === 0) {
        buf.fill(0, intoOffset + done, intoOffset + length);
        break;
      }
      done += n;
    }
    return buf;
  }

  writeBase(offset: number, data: Buffer): void {
    let done = 0;
    while (done < data.length) done += fs.writeSync(this.fd, data, done, data.length - done, offset + done);
  }

  /** Writes to a layer's file: the base disk, or a redo log. */
  writeLayer(layerId: string, firstBlock: number, data: Buffer): void {
    if (layerId === 'base') this.writeBase(firstBlock * BLOCK, data);
    else {
      const l = this.layer(layerId);
      if (!l) throw new Error(`disk ${this.vmId}/${this.index}: no layer ${layerId}`);
      l.write(firstBlock, data);
    }
  }

  /** Records a guest write in change tracking and allocation. */
  track(offset: number, length: number): void {
    this.cbt.seq++;
    for (let t = Math.floor(offset / TRACK); t < Math.ceil((offset + length) / TRACK); t++) {
      this.cbt.changed[t] = this.cbt.seq;
      this.allocated[t] = 1;
    }
  }

  /** Change tracking cannot answer for earlier change ids any more (host crash, resize). */
  resetCbt(): void {
    this.cbt = newCbt(this.sizeBytes);
  }

  /** Scans the base file for regions holding data (after an unclean restart). */
  rescanAllocation(): void {
    const buf = Buffer.alloc(TRACK);
    const zero = Buffer.alloc(TRACK);
    this.allocated = new Uint8Array(Math.ceil(this.sizeBytes / TRACK));
    for (let t = 0; t < this.allocated.length; t++) {
      const len = Math.min(TRACK, this.sizeBytes - t * TRACK);
      this.readBase(t * TRACK, len, buf, 0);
      if (buf.compare(zero, 0, len, 0, len) !== 0) this.allocated[t] = 1;
    }
    for (const l of this.layers) for (const b of l.blocks.keys()) this.allocated[Math.floor((b * BLOCK) / TRACK)] = 1;
  }

  resize(newSize: number): void {
    fs.ftruncateSync(this.fd, newSize);
    this.sizeBytes = newSize;
    const a = new Uint8Array(Math.ceil(newSize / TRACK));
    a.set(this.allocated.subarray(0, Math.min(a.length, this.allocated.length)));
    this.allocated = a;
    this.resetCbt();
  }

  syncBase(): void {
    fs.fsyncSync(this.fd);
  }

  close(): void {
    for (const l of this.layers) l.journal.close();
    fs.closeSync(this.fd);
  }
}
