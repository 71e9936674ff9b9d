import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ChunkIndex, type IndexEntry } from './chunk-index';
import { IDX_ENTRY_BYTES, IDX_MAGIC, ID_BYTES, PACK_MAGIC, RECORD_HEADER_BYTES, RepositoryError } from './format';
import { readExactly, syncDir, writeFileAtomic } from './files';

export type { IndexEntry };

export interface SealedChunk {
  id: Buffer;
  codec: number;
  rawLen: number;
  payload: Buffer;
}

/** Target size of a pack file. */
const PACK_TARGET_BYTES = 32 << 20;

export function encodeIdx(entries: Array<{ id: Buffer } & Omit<IndexEntry, 'pack'>>): Buffer {
  const buf = Buffer.alloc(8 + entries.length * IDX_ENTRY_BYTES);
  IDX_MAGIC.copy(buf, 0);
  buf.writeUInt32LE(entries.length, 4);
  entries.forEach((e, i) => {
    const o = 8 + i * IDX_ENTRY_BYTES;
    e.id.copy(buf, o);
    buf.writeBigUInt64LE(BigInt(e.offset), o + ID_BYTES);
    buf.writeUInt32LE(e.storedLen, o + ID_BYTES + 8);
    buf.writeUInt32LE(e.rawLen, o + ID_BYTES + 12);
    buf.writeUInt8(e.codec, o + ID_BYTES + 16);
  });
  return buf;
}

/** Walks an index file without building objects (index files of big repositories are large). */
export function forEachIdxEntry(buf: Buffer, name: string, fn: (id: Buffer, offset: number, storedLen: number, rawLen: number, codec: number) => void): void {
  if (buf.length < 8 || !buf.subarray(0, 4).equals(IDX_MAGIC)) throw new RepositoryError('INTERNAL', `pack index ${name} is corrupt`);
  const n = buf.readUInt32LE(4);
  if (buf.length !== 8 + n * IDX_ENTRY_BYTES) throw new RepositoryError('INTERNAL', `pack index ${name} is truncated`);
  for (let i = 0; i < n; i++) {
    const o = 8 + i * IDX_ENTRY_BYTES;
    fn(buf.subarray(o, o + ID_BYTES), Number(buf.readBigUInt64LE(o + ID_BYTES)), buf.readUInt32LE(o + ID_BYTES + 8), buf.readUInt32LE(o + ID_BYTES + 12), buf.readUInt8(o + ID_BYTES + 16));
  }
}

export function decodeIdx(buf: Buffer, name: string): Array<{ id: Buffer } & Omit<IndexEntry, 'pack'>> {
  if (buf.length < 8 || !buf.subarray(0, 4).equals(IDX_MAGIC)) throw new RepositoryError('INTERNAL', `pack index ${name} is corrupt`);
  const n = buf.readUInt32LE(4);
  if (buf.length !== 8 + n * IDX_ENTRY_BYTES) throw new RepositoryError('INTERNAL', `pack index ${name} is truncated`);
  const out = [];
  for (let i = 0; i < n; i++) {
    const o = 8 + i * IDX_ENTRY_BYTES;
    out.push({
      id: Buffer.from(buf.subarray(o, o + ID_BYTES)),
      offset: Number(buf.readBigUInt64LE(o + ID_BYTES)),
      storedLen: buf.readUInt32LE(o + ID_BYTES + 8),
      rawLen: buf.readUInt32LE(o + ID_BYTES + 12),
      codec: buf.readUInt8(o + ID_BYTES + 16),
    });
  }
  return out;
}

/**
 * The chunk index (id → pack, offset) of every finalized pack, and the writer that appends sealed
 * chunks to packs. One writer per open repository serves every concurrent backup; a chunk counts
 * as stored (for deduplication) as soon as it is handed to the writer, and every backup flushes
 * the writer before it writes its manifest, so a manifest never names a chunk that is not durable.
 */
export class PackStore {
  readonly dir: string;
  /** Durable chunks, and pending ones (handed to the writer, pack not finalized yet). */
  readonly index = new ChunkIndex();
  private readonly loadedIdx = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();
  private current: { name: string; tmp: string; fh: fs.promises.FileHandle; size: number; entries: Array<{ id: Buffer } & Omit<IndexEntry, 'pack'>> } | null = null;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Loads index files not seen yet (other processes may have added packs). */
  async refresh(): Promise<void> {
    const names = await fs.promises.readdir(this.dir);
    for (const n of names) {
      if (!n.endsWith('.idx') || this.loadedIdx.has(n)) continue;
      const pack = n.slice(0, -4);
      const buf = await fs.promises.readFile(path.join(this.dir, n));
      forEachIdxEntry(buf, n, (id, offset, storedLen, rawLen, codec) => this.index.set(id, { pack, offset, storedLen, rawLen, codec }));
      this.loadedIdx.add(n);
    }
  }

  has(id: Uint8Array): boolean {
    return this.index.has(id);
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Appends chunks (already sealed) to the current pack; returns when they are written (not yet durable). */
  append(chunks: SealedChunk[]): Promise<void> {
    for (const c of chunks) if (!this.index.has(c.id)) this.index.set(c.id, null);
    return this.enqueue(async () => {
      let i = 0;
      while (i < chunks.length) {
        if (!this.current) {
          const name = `${Date.now().toString(36)}-${randomBytes(8).toString('hex')}`;
          const tmp = path.join(this.dir, `.tmp-${name}.pack`);
          const fh = await fs.promises.open(tmp, 'wx');
          await fh.write(PACK_MAGIC, 0, PACK_MAGIC.length, 0);
          this.current = { name, tmp, fh, size: PACK_MAGIC.length, entries: [] };
        }
        const cur = this.current;
        // As many records as fit in this pack, in one write.
        const parts: Buffer[] = [];
        let size = cur.size;
        for (; i < chunks.length && (parts.length === 0 || size < PACK_TARGET_BYTES); i++) {
          const c = chunks[i]!;
          const head = Buffer.alloc(RECORD_HEADER_BYTES);
          head.writeUInt8(c.codec, 0);
          head.writeUInt32LE(c.payload.length, 1);
          head.writeUInt32LE(c.rawLen, 5);
          c.id.copy(head, 9);
          parts.push(head, c.payload);
          cur.entries.push({ id: c.id, offset: size + RECORD_HEADER_BYTES, storedLen: c.payload.length, rawLen: c.rawLen, codec: c.codec });
          size += RECORD_HEADER_BYTES + c.payload.length;
        }
        await cur.fh.writev(parts, cur.size);
        cur.size = size;
        if (cur.size >= PACK_TARGET_BYTES) await this.finalize();
      }
    });
  }

  private async finalize(): Promise<void> {
    const cur = this.current;
    if (!cur) return;
    this.current = null;
    await cur.fh.sync();
    await cur.fh.close();
    await fs.promises.rename(cur.tmp, path.join(this.dir, `${cur.name}.pack`));
    await writeFileAtomic(path.join(this.dir, `${cur.name}.idx`), encodeIdx(cur.entries));
    await syncDir(this.dir);
    for (const e of cur.entries) this.index.set(e.id, { pack: cur.name, offset: e.offset, storedLen: e.storedLen, rawLen: e.rawLen, codec: e.codec });
    this.loadedIdx.add(`${cur.name}.idx`);
  }

  /** Makes every chunk appended so far durable (finalizes the current pack). */
  flush(): Promise<void> {
    return this.enqueue(() => this.finalize());
  }

  /** Reads one chunk's stored record payload. */
  async readPayload(e: IndexEntry, fhCache?: Map<string, fs.promises.FileHandle>): Promise<Buffer> {
    const fh = fhCache?.get(e.pack) ?? (await this.openPack(e.pack));
    if (fhCache && !fhCache.has(e.pack)) fhCache.set(e.pack, fh);
    const buf = Buffer.allocUnsafe(e.storedLen);
    try {
      await readExactly(fh, buf, 0, e.storedLen, e.offset, `pack ${e.pack}`);
    } finally {
      if (!fhCache) await fh.close();
    }
    return buf;
  }

  async openPack(pack: string): Promise<fs.promises.FileHandle> {
    try {
      return await fs.promises.open(path.join(this.dir, `${pack}.pack`), 'r');
    } catch {
      throw new RepositoryError('INTERNAL', `pack ${pack} is missing from the repository`);
    }
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
