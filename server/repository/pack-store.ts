import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DIRECT_ALIGN, DirectWriteQueue, openDirect } from './direct-io';
import { ChunkIndex, type IndexEntry } from './chunk-index';
import { IDX_ENTRY_BYTES, IDX_MAGIC, ID_BYTES, PACK_MAGIC, RECORD_HEADER_BYTES, RepositoryError, idxEntryCount } from './format';
import { readExactly, readFileShared, syncDir, writeFileAtomic } from './files';

export type { IndexEntry };

export interface SealedChunk {
  id: Buffer;
  codec: number;
  rawLen: number;
  payload: Buffer;
}

/** Target size of a pack file. */
const PACK_TARGET_BYTES = 32 << 20;

/** A pack's index file for these entries (the writer builds its files the same way, as records are appended). */
export function encodeIdx(entries: Array<{ id: Buffer } & Omit<IndexEntry, 'pack'>>): Buffer {
  const n = entries.length;
  const b = new IdxBuilder();
  b.add({ blob: Buffer.alloc(0), n, ids: Buffer.concat(entries.map((e) => e.id)), idAt: Uint32Array.from({ length: n }, (_, i) => i * ID_BYTES), at: entries.map((e) => e.offset), storedLen: entries.map((e) => e.storedLen), rawLen: entries.map((e) => e.rawLen), codec: entries.map((e) => e.codec) }, 0);
  return b.finish();
}

export function decodeIdx(buf: Buffer, name: string): Array<{ id: Buffer } & Omit<IndexEntry, 'pack'>> {
  const n = idxEntryCount(buf, name);
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
 * A run of pack records (header + payload each) and, per record, as columns (a backup hands over
 * thousands at a time, no object each): its id at `ids[idAt[i], idAt[i] + 32)`, where its payload
 * starts in the run, its stored and raw lengths and codec.
 */
export interface RecordRun {
  blob: Buffer;
  n: number;
  ids: Buffer;
  idAt: ArrayLike<number>;
  at: ArrayLike<number>;
  storedLen: ArrayLike<number>;
  rawLen: ArrayLike<number>;
  codec: ArrayLike<number>;
}

/** Packs records the way the writer stores them: codec, stored length, raw length, id, payload. */
export function encodeRecords(chunks: SealedChunk[]): RecordRun {
  const n = chunks.length;
  const blob = Buffer.allocUnsafe(chunks.reduce((a, c) => a + RECORD_HEADER_BYTES + c.payload.length, 0));
  const run: RecordRun = { blob, n, ids: Buffer.alloc(n * ID_BYTES), idAt: Uint32Array.from({ length: n }, (_, i) => i * ID_BYTES), at: new Float64Array(n), storedLen: new Uint32Array(n), rawLen: new Uint32Array(n), codec: new Uint8Array(n) };
  let o = 0;
  chunks.forEach((c, i) => {
    blob.writeUInt8(c.codec, o);
    blob.writeUInt32LE(c.payload.length, o + 1);
    blob.writeUInt32LE(c.rawLen, o + 5);
    c.id.copy(blob, o + 9);
    c.payload.copy(blob, o + RECORD_HEADER_BYTES);
    c.id.copy(run.ids, i * ID_BYTES);
    (run.at as Float64Array)[i] = o + RECORD_HEADER_BYTES;
    (run.storedLen as Uint32Array)[i] = c.payload.length;
    (run.rawLen as Uint32Array)[i] = c.rawLen;
    (run.codec as Uint8Array)[i] = c.codec;
    o += RECORD_HEADER_BYTES + c.payload.length;
  });
  return run;
}

/** A pack's index file as its records are appended (the file's own layout: nothing to encode at the end). */
class IdxBuilder {
  private buf = Buffer.alloc(8 + 1024 * IDX_ENTRY_BYTES);
  n = 0;

  /** Run `run`'s records, its payloads `at` bytes into the pack. */
  add(run: RecordRun, at: number): void {
    const need = 8 + (this.n + run.n) * IDX_ENTRY_BYTES;
    if (need > this.buf.length) {
      const next = Buffer.alloc(Math.max(need, this.buf.length * 2));
      this.buf.copy(next, 0, 0, 8 + this.n * IDX_ENTRY_BYTES);
      this.buf = next;
    }
    const b = this.buf;
    for (let i = 0, o = 8 + this.n * IDX_ENTRY_BYTES; i < run.n; i++, o += IDX_ENTRY_BYTES) {
      run.ids.copy(b, o, run.idAt[i]!, run.idAt[i]! + ID_BYTES);
      const offset = at + run.at[i]!;
      b.writeUInt32LE(offset % 2 ** 32, o + ID_BYTES);
      b.writeUInt32LE(Math.floor(offset / 2 ** 32), o + ID_BYTES + 4);
      b.writeUInt32LE(run.storedLen[i]!, o + ID_BYTES + 8);
      b.writeUInt32LE(run.rawLen[i]!, o + ID_BYTES + 12);
      b[o + ID_BYTES + 16] = run.codec[i]!;
    }
    this.n += run.n;
  }

  /** Entry i's id (a view). */
  id(i: number): Buffer {
    return this.buf.subarray(8 + i * IDX_ENTRY_BYTES, 8 + i * IDX_ENTRY_BYTES + ID_BYTES);
  }

  /** The index file. */
  finish(): Buffer {
    IDX_MAGIC.copy(this.buf, 0);
    this.buf.writeUInt32LE(this.n, 4);
    return this.buf.subarray(0, 8 + this.n * IDX_ENTRY_BYTES);
  }
}

/** Bytes handed to the writer and not yet written before appends wait (bounded memory). */
const WRITE_QUEUE_BYTES = 64 << 20;

interface OpenPack {
  name: string;
  tmp: string;
  size: number;
  idx: IdxBuilder;
  io: PackFile;
}

/**
 * One pack file being written. Direct: O_DIRECT writes of whole 4 KiB blocks (the native addon
 * aligns them), the partial last block held back until the next write or the end; no page-cache
 * copy, so the write costs the CPU almost nothing. Buffered: plain writes and an fsync at the end
 * (no native addon, or a file system without O_DIRECT).
 */
interface PackFile {
  write(blob: Buffer, at: number, done: () => void): void;
  /** Waits for every write, makes the file durable at `size` bytes, closes it. */
  finish(size: number): Promise<void>;
  abort(): Promise<void>;
}

function openPackFile(tmp: string): PackFile {
  const header = Buffer.from(PACK_MAGIC);
  const fd = openDirect(tmp, fs.constants.O_CREAT | fs.constants.O_EXCL);
  return fd === null ? bufferedPackFile(tmp, header) : directPackFile(new DirectWriteQueue(fd), header);
}

function directPackFile(q: DirectWriteQueue, header: Buffer): PackFile {
  /** Bytes after the last block boundary written (they go out with the next write, or padded at the end). */
  let tail: Buffer = header;
  let written = 0;
  return {
    write(blob, at, done) {
      if (at !== written + tail.length) throw new RepositoryError('INTERNAL', `pack write at ${at} is not where the pack ends (${written + tail.length})`);
      const total = tail.length + blob.length;
      const aligned = total - (total % DIRECT_ALIGN);
      if (aligned === 0) {
        tail = Buffer.concat([tail, blob]);
        done();
        return;
      }
      q.write([tail, blob], aligned, written, done);
      tail = Buffer.from(blob.subarray(blob.length - (total - aligned)));
      written += aligned;
    },
    async finish(size) {
      if (tail.length) q.write([tail], tail.length, written);
      await q.finish(size);
    },
    abort: () => q.close(),
  };
}

function bufferedPackFile(tmp: string, header: Buffer): PackFile {
  const fh = fs.promises.open(tmp, 'wx');
  let writes: Promise<void> = fh.then((h) => h.write(header, 0, header.length, 0)).then(() => undefined);
  return {
    write(blob, at, done) {
      writes = writes.then(async () => {
        const h = await fh;
        let n = 0;
        try {
          while (n < blob.length) n += (await h.write(blob, n, blob.length - n, at + n)).bytesWritten;
        } finally {
          done();
        }
      });
      // Reported by finish().
      writes.catch(() => undefined);
    },
    async finish() {
      await writes;
      const h = await fh;
      await h.sync();
      await h.close();
    },
    async abort() {
      await writes.catch(() => undefined);
      await fh.then((h) => h.close()).catch(() => undefined);
    },
  };
}

/**
 * The chunk index (id → pack, offset) of every finalized pack, and the writer that appends sealed
 * chunks to packs. One writer per open repository serves every concurrent backup; a chunk counts
 * as stored (for deduplication) as soon as it is handed to the writer, and every backup flushes
 * the writer before it writes its manifest, so a manifest never names a chunk that is not durable.
 *
 * Appends return as soon as their bytes are queued (within a bounded budget); a full pack is made
 * durable, renamed and indexed in the background while the next one fills, so the device's time
 * overlaps hashing and compression.
 */
export class PackStore {
  readonly dir: string;
  /** Durable chunks, and pending ones (handed to the writer, pack not finalized yet). */
  readonly index = new ChunkIndex();
  private readonly loadedIdx = new Set<string>();
  private current: OpenPack | null = null;
  private readonly finalizing = new Set<Promise<void>>();
  private queuedBytes = 0;
  private readonly waitingRoom: Array<() => void> = [];
  private failure: Error | null = null;

  constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Loads index files not seen yet (other processes may have added packs). Callers at the same
   * time wait for one load, then look again (cheap when nothing is new), so no file is read twice.
   */
  async refresh(): Promise<void> {
    while (this.refreshing) await this.refreshing;
    this.refreshing = this.loadNewIdx().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private refreshing: Promise<void> | null = null;

  private async loadNewIdx(): Promise<void> {
    // Index files known before the listing: those missing from it were removed (by gc, here or in
    // another process) and their chunks are gone unless a newer pack holds them.
    const known = [...this.loadedIdx];
    const listed = new Set(await fs.promises.readdir(this.dir));
    const names = [...listed].filter((n) => n.endsWith('.idx') && !this.loadedIdx.has(n));
    // Read in parallel, loaded in order (a chunk in two packs keeps the later pack's entry).
    // Mapped, not read: their entries are copied into the index and the pages let go at once.
    const files = await Promise.all(names.map((n) => readFileShared(path.join(this.dir, n))));
    try {
      this.index.reserve(files.reduce((a, f) => a + Math.max(0, (f.buf.length - 8) / IDX_ENTRY_BYTES), 0));
      names.forEach((n, i) => {
        if (this.loadedIdx.has(n)) return;
        const pack = n.slice(0, -4);
        this.index.loadIdx(files[i]!.buf, pack, n);
        this.loadedIdx.add(n);
      });
    } finally {
      for (const f of files) f.release();
    }
    for (const n of known) {
      if (listed.has(n)) continue;
      this.index.dropPack(n.slice(0, -4));
      this.loadedIdx.delete(n);
    }
  }

  has(id: Uint8Array): boolean {
    return this.index.has(id);
  }

  /** Appends chunks (already sealed) to the current pack. */
  append(chunks: SealedChunk[]): Promise<void> {
    return this.appendRecords(encodeRecords(chunks));
  }

  /** Chunks handed to the writer count for deduplication from now on (pending until durable). */
  private markPending(run: RecordRun): void {
    for (let i = 0; i < run.n; i++) {
      const id = run.ids.subarray(run.idAt[i]!, run.idAt[i]! + ID_BYTES);
      if (!this.index.has(id)) this.index.set(id, null);
    }
  }

  /**
   * Appends a run of records; returns once it is queued within the writer's memory budget (not yet
   * durable: `flush` makes it so). A write that fails fails the next `flush`, and its chunks stop
   * counting as stored. `claimed`: the caller has already made them pending in the index.
   */
  async appendRecords(run: RecordRun, written?: () => void, claimed = false): Promise<void> {
    if (this.failure) throw this.failure;
    if (!claimed) this.markPending(run);
    if (!this.current) {
      const name = `${Date.now().toString(36)}-${randomBytes(8).toString('hex')}`;
      const tmp = path.join(this.dir, `.tmp-${name}.pack`);
      this.current = { name, tmp, size: PACK_MAGIC.length, idx: new IdxBuilder(), io: openPackFile(tmp) };
    }
    const cur = this.current;
    const at = cur.size;
    cur.idx.add(run, at);
    cur.size += run.blob.length;
    this.queuedBytes += run.blob.length;
    cur.io.write(run.blob, at, () => {
      this.release(run.blob.length);
      // The writer is done with the blob (written, or copied where it waits).
      written?.();
    });
    if (cur.size >= PACK_TARGET_BYTES) this.rotate();
    while (this.queuedBytes > WRITE_QUEUE_BYTES && !this.failure) await new Promise<void>((r) => this.waitingRoom.push(r));
  }

  private release(bytes: number): void {
    this.queuedBytes -= bytes;
    while (this.queuedBytes <= WRITE_QUEUE_BYTES && this.waitingRoom.length) this.waitingRoom.shift()!();
  }

  /** Closes the current pack and finalizes it in the background: durable, renamed, indexed; then its chunks count as stored. */
  private rotate(): void {
    const cur = this.current;
    if (!cur) return;
    this.current = null;
    const done = (async () => {
      try {
        await cur.io.finish(cur.size);
        await fs.promises.rename(cur.tmp, path.join(this.dir, `${cur.name}.pack`));
        const idx = cur.idx.finish();
        await writeFileAtomic(path.join(this.dir, `${cur.name}.idx`), idx);
        // Its chunks take their durable place: the index file goes in as a loaded one does.
        this.index.loadIdx(idx, cur.name, `${cur.name}.idx`);
        this.loadedIdx.add(`${cur.name}.idx`);
      } catch (e) {
        this.failure ??= new RepositoryError('INTERNAL', `writing pack ${cur.name} failed: ${(e as Error).message}`);
        for (let i = 0; i < cur.idx.n; i++) if (this.index.isPending(cur.idx.id(i))) this.index.delete(cur.idx.id(i));
        await cur.io.abort().catch(() => undefined);
        await fs.promises.rm(cur.tmp, { force: true }).catch(() => undefined);
        while (this.waitingRoom.length) this.waitingRoom.shift()!();
      }
    })();
    this.finalizing.add(done);
    void done.finally(() => this.finalizing.delete(done));
  }

  /** Makes every chunk appended so far durable (finalizes the current pack and waits for every pack being finalized). */
  async flush(): Promise<void> {
    this.rotate();
    while (this.finalizing.size) await Promise.all([...this.finalizing]);
    await syncDir(this.dir);
    if (this.failure) {
      const f = this.failure;
      this.failure = null;
      throw f;
    }
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
