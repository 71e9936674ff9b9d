import fs from 'node:fs';

export const BLOCK = 4096;
const MAGIC = 0x31524a51; // "QJR1"
const HEAD = 4 + 1 + 2 + 4 + 4;

export type JournalRecord = { type: 'data'; key: string; firstBlock: number; data: Buffer; offset: number } | { type: 'clean'; key: string; firstBlock: number; nBlocks: number };

/**
 * An append-only journal of block writes (a snapshot's redo log, a host's flash cache). Records:
 * [magic u32][type u8][key length u16][first block u32][block count u32][key][data]. Replay stops
 * at the first torn record (a crash mid-append) and cuts the file there.
 */
export class BlockJournal {
  readonly file: string;
  private fd: number;
  size: number;

  private constructor(file: string, fd: number, size: number) {
    this.file = file;
    this.fd = fd;
    this.size = size;
  }

  static create(file: string): BlockJournal {
    const fd = fs.openSync(file, 'w+');
    return new BlockJournal(file, fd, 0);
  }

  /** Opens an existing journal and replays it; a torn tail is cut off. */
  static open(file: string, onRecord: (r: JournalRecord) => void): BlockJournal {
    const fd = fs.openSync(file, 'r+');
    const total = fs.fstatSync(fd).size;
    const head = Buffer.alloc(HEAD);
    let pos = 0;
    while (pos + HEAD <= total) {
      fs.readSync(fd, head, 0, HEAD, pos);
      if (head.readUInt32LE(0) !== MAGIC) break;
      const type = head.readUInt8(4);
      const keyLen = head.readUInt16LE(5);
      const firstBlock = head.readUInt32LE(7);
      const nBlocks = head.readUInt32LE(11);
      const dataLen = type === 1 ? nBlocks * BLOCK : 0;
      if (pos + HEAD + keyLen + dataLen > total) break;
      const keyBuf = Buffer.alloc(keyLen);
      fs.readSync(fd, keyBuf, 0, keyLen, pos + HEAD);
      const key = keyBuf.toString('utf8');
      if (type === 1) {
        const data = Buffer.alloc(dataLen);
        fs.readSync(fd, data, 0, dataLen, pos + HEAD + keyLen);
        onRecord({ type: 'data', key, firstBlock, data, offset: pos + HEAD + keyLen });
      } else if (type === 2) onRecord({ type: 'clean', key, firstBlock, nBlocks });
      else break;
      pos += HEAD + keyLen + dataLen;
    }
    if (pos < total) fs.ftruncateSync(fd, pos);
    return new BlockJournal(file, fd, pos);
  }

  /** Appends blocks; returns the file offset of the data. */
  appendData(key: string, firstBlock: number, data: Buffer): number {
    if (data.length % BLOCK !== 0) throw new Error('journal data must be whole blocks');
    const k = Buffer.from(key, 'utf8');
    const head = Buffer.alloc(HEAD);
    head.writeUInt32LE(MAGIC, 0);
    head.writeUInt8(1, 4);
    head.writeUInt16LE(k.length, 5);
    head.writeUInt32LE(firstBlock, 7);
    head.writeUInt32LE(data.length / BLOCK, 11);
    const at = this.size;
    fs.writevSync(this.fd, [head, k, data], at);
    this.size += HEAD + k.length + data.length;
    return at + HEAD + k.length;
  }

  appendClean(key: string, firstBlock: number, nBlocks: number): void {
    const k = Buffer.from(key, 'utf8');
    const head = Buffer.alloc(HEAD);
    head.writeUInt32LE(MAGIC, 0);
    head.writeUInt8(2, 4);
    head.writeUInt16LE(k.length, 5);
    head.writeUInt32LE(firstBlock, 7);
    head.writeUInt32LE(nBlocks, 11);
    fs.writevSync(this.fd, [head, k], this.size);
    this.size += HEAD + k.length;
  }

  readAt(offset: number, length: number, into?: Buffer, intoOffset = 0): Buffer {
    const buf = into ?? Buffer.alloc(length);
    fs.readSync(this.fd, buf, intoOffset, length, offset);
    return buf;
  }

  sync(): void {
    fs.fsyncSync(this.fd);
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  remove(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      /* closed */
    }
    fs.rmSync(this.file, { force: true });
  }
}
