import { ID_BYTES, IDX_ENTRY_BYTES, idxEntryCount } from './format';
import type { DiskTable } from './disk-table';
import { native } from './native.mjs';

export interface IndexEntry {
  pack: string;
  offset: number;
  storedLen: number;
  rawLen: number;
  codec: number;
}

/** The first 4 bytes of the id at `src[at]` as a word: its hash slot, and the first thing a probe compares. */
function headOf(src: Uint8Array, at = 0): number {
  return (src[at]! | (src[at + 1]! << 8) | (src[at + 2]! << 16) | (src[at + 3]! << 24)) >>> 0;
}

const EMPTY = -1;
const PENDING = 0xffffffff;
/** A located entry's pack number when it has no chunk (zeros) or none was found. */
export const NO_PACK = 0xffffffff;

/** Where a disk table's chunks are stored, per entry (see ChunkIndex.locate). */
export interface ChunkLocations {
  packNo: Uint32Array;
  offset: Float64Array;
  storedLen: Uint32Array;
  rawLen: Uint32Array;
  codec: Uint8Array;
  missing: number;
}

/**
 * Chunk id → location, for hundreds of thousands of chunks: an open-addressing hash table over
 * typed arrays (ids are SHA-256 or HMAC values, so their first bytes are already uniform). Entries
 * can be pending: handed to the pack writer but not durable yet (they count for deduplication).
 */
export class ChunkIndex {
  private ids = Buffer.alloc(0);
  /** The first 4 bytes of each id, for probes that compare a word before the whole id. */
  private head = new Uint32Array(0);
  private packNo = new Uint32Array(0);
  private offset = new Float64Array(0);
  private storedLen = new Uint32Array(0);
  private rawLen = new Uint32Array(0);
  private codec = new Uint8Array(0);
  private live = new Uint8Array(0);
  private slots = new Int32Array(0);
  private count = 0;
  private liveCount = 0;
  private readonly packs: string[] = [];
  private readonly packNos = new Map<string, number>();

  get size(): number {
    return this.liveCount;
  }

  private grow(min: number): void {
    if (min <= this.packNo.length) return;
    const cap = Math.max(1024, this.packNo.length * 2, min);
    const ids = Buffer.alloc(cap * ID_BYTES);
    this.ids.copy(ids);
    this.ids = ids;
    const head = new Uint32Array(cap);
    head.set(this.head);
    this.head = head;
    const copy = <T extends Uint32Array | Float64Array | Uint8Array>(a: T, n: T): T => {
      n.set(a);
      return n;
    };
    this.packNo = copy(this.packNo, new Uint32Array(cap));
    this.offset = copy(this.offset, new Float64Array(cap));
    this.storedLen = copy(this.storedLen, new Uint32Array(cap));
    this.rawLen = copy(this.rawLen, new Uint32Array(cap));
    this.codec = copy(this.codec, new Uint8Array(cap));
    this.live = copy(this.live, new Uint8Array(cap));
    this.rehash(cap * 2);
  }

  private rehash(slotCount: number): void {
    let n = 1;
    while (n < slotCount) n <<= 1;
    this.slots = new Int32Array(n).fill(EMPTY);
    const mask = n - 1;
    for (let i = 0; i < this.count; i++) {
      if (!this.live[i]) continue;
      let s = this.head[i]! & mask;
      while (this.slots[s] !== EMPTY) s = (s + 1) & mask;
      this.slots[s] = i;
    }
  }

  /** The entry of the id at `src[at, at + 32)`, or -1. */
  private find(src: Uint8Array, at = 0): number {
    if (this.slots.length === 0) return -1;
    const mask = this.slots.length - 1;
    const h = headOf(src, at);
    let s = h & mask;
    for (;;) {
      const e = this.slots[s]!;
      if (e === EMPTY) return -1;
      if (this.head[e] === h && this.live[e] && this.sameTail(src, at, e)) return e;
      s = (s + 1) & mask;
    }
  }

  private sameTail(src: Uint8Array, at: number, e: number): boolean {
    const ids = this.ids;
    const o = e * ID_BYTES;
    for (let i = 4; i < ID_BYTES; i++) if (ids[o + i] !== src[at + i]) return false;
    return true;
  }

  /** The entry of the id at `src[at, at + 32)`, added (live, fields unset) when absent. */
  private findOrAdd(src: Uint8Array, at: number): number {
    const found = this.find(src, at);
    if (found >= 0) return found;
    this.grow(this.count + 1);
    if (this.count * 2 >= this.slots.length) this.rehash(this.slots.length * 2);
    const e = this.count++;
    // Byte by byte: a view per id (subarray) would cost more than the copy (a bulk load adds 100 K+).
    const ids = this.ids;
    for (let i = 0, o = e * ID_BYTES; i < ID_BYTES; i++) ids[o + i] = src[at + i]!;
    this.head[e] = headOf(src, at);
    this.live[e] = 1;
    this.liveCount++;
    const mask = this.slots.length - 1;
    let s = this.head[e]! & mask;
    while (this.slots[s] !== EMPTY) s = (s + 1) & mask;
    this.slots[s] = e;
    return e;
  }

  /**
   * Room for `n` more entries without growing step by step (bulk loads), and a quarter more for
   * the chunks the next backups add: growing copies every column into fresh memory (an
   * incremental on a loaded index otherwise doubles it for its first new chunk).
   */
  reserve(n: number): void {
    const want = this.count + n;
    if (want > this.packNo.length) this.grow(want + (want >> 2));
    if (want * 2 > this.slots.length) this.rehash(want * 2);
  }

  has(id: Uint8Array): boolean {
    return this.find(id) >= 0;
  }

  /** Durable location, or undefined (absent or still pending). */
  get(id: Uint8Array): IndexEntry | undefined {
    const e = this.find(id);
    if (e < 0 || this.packNo[e] === PENDING) return undefined;
    return { pack: this.packs[this.packNo[e]!]!, offset: this.offset[e]!, storedLen: this.storedLen[e]!, rawLen: this.rawLen[e]!, codec: this.codec[e]! };
  }

  /** Present and durable (no object made: for checks over every chunk of a manifest). */
  isDurable(id: Uint8Array): boolean {
    const e = this.find(id);
    return e >= 0 && this.packNo[e] !== PENDING;
  }

  isPending(id: Uint8Array): boolean {
    const e = this.find(id);
    return e >= 0 && this.packNo[e] === PENDING;
  }

  private packNumber(pack: string): number {
    let n = this.packNos.get(pack);
    if (n === undefined) {
      n = this.packs.length;
      this.packs.push(pack);
      this.packNos.set(pack, n);
    }
    return n;
  }

  /** Adds or updates; `loc` null marks the chunk pending. */
  set(id: Uint8Array, loc: IndexEntry | null): void {
    const e = this.findOrAdd(id, 0);
    this.packNo[e] = loc ? this.packNumber(loc.pack) : PENDING;
    this.offset[e] = loc?.offset ?? 0;
    this.storedLen[e] = loc?.storedLen ?? 0;
    this.rawLen[e] = loc?.rawLen ?? 0;
    this.codec[e] = loc?.codec ?? 0;
  }

  /**
   * Loads a pack's index file (see format.ts) in place: no object per entry. A chunk already known
   * takes this pack's location (packs are loaded in order; the later one wins). `js` takes the
   * JavaScript inserts even when the native addon is there (tests compare the two).
   */
  loadIdx(buf: Buffer, pack: string, name: string, js = false): void {
    const n = idxEntryCount(buf, name);
    const packNo = this.packNumber(pack);
    if (native?.indexInsert && !js) {
      // The same inserts in C (loading 118 K entries took the main thread 111 ms in JavaScript, 25 ms so).
      this.reserve(n);
      const added = native.indexInsert(buf, 8, IDX_ENTRY_BYTES, n, this.ids, this.head, this.packNo, this.offset, this.storedLen, this.rawLen, this.codec, this.live, this.slots, this.count, packNo) as number;
      this.count += added;
      this.liveCount += added;
      return;
    }
    for (let i = 0, o = 8; i < n; i++, o += IDX_ENTRY_BYTES) {
      const e = this.findOrAdd(buf, o);
      const f = o + ID_BYTES;
      this.packNo[e] = packNo;
      this.offset[e] = buf.readUInt32LE(f) + buf.readUInt32LE(f + 4) * 2 ** 32;
      this.storedLen[e] = buf.readUInt32LE(f + 8);
      this.rawLen[e] = buf.readUInt32LE(f + 12);
      this.codec[e] = buf[f + 16]!;
    }
  }

  /**
   * Claims the data chunks `from` to `to` of a named batch (`ids` 32 bytes each, `zero` flags the
   * zero chunks, which have no id): an absent one is added pending. Per chunk, `flags` (from
   * `from`) says 1: claimed now (the caller stores it), 2: pending (another backup's claim),
   * 0: durable, or a zero chunk. `js` takes the JavaScript path even when the addon is there.
   */
  claim(ids: Uint8Array, zero: Uint8Array, from: number, to: number, js = false): Uint8Array {
    const flags = new Uint8Array(Math.max(0, to - from));
    if (native?.indexClaim && !js) {
      this.reserve(to - from);
      const added = native.indexClaim(ids, zero, from, to, this.ids, this.head, this.packNo, this.live, this.slots, this.count, flags) as number;
      this.count += added;
      this.liveCount += added;
      return flags;
    }
    for (let k = from; k < to; k++) {
      if (zero[k]) continue;
      const e = this.find(ids, k * ID_BYTES);
      if (e >= 0) flags[k - from] = this.packNo[e] === PENDING ? 2 : 0;
      else {
        this.packNo[this.findOrAdd(ids, k * ID_BYTES)] = PENDING;
        flags[k - from] = 1;
      }
    }
    return flags;
  }

  /**
   * The first of `picks` whose id (`ids[32 k, 32 k + 32)`) is absent or still pending, or -1: a
   * commit's check that every chunk it counts on is durable. `js` as for `claim`.
   */
  firstNotDurable(ids: Uint8Array, picks: Uint32Array, js = false): number {
    if (this.slots.length === 0) return picks.length ? picks[0]! : -1;
    if (native?.indexFirstNotDurable && !js) return native.indexFirstNotDurable(ids, picks, this.ids, this.head, this.packNo, this.live, this.slots) as number;
    for (const k of picks) {
      const e = this.find(ids, k * ID_BYTES);
      if (e < 0 || this.packNo[e] === PENDING) return k;
    }
    return -1;
  }

  /**
   * Where every chunk of a disk table is stored, as columns (a restore makes no object per chunk):
   * pack numbers (`packName` names them; NO_PACK for zero entries), offsets, stored and raw lengths,
   * codecs; `missing` is the first entry with an id that has no durable location, or -1. `js` as for `claim`.
   */
  locate(t: DiskTable, js = false): ChunkLocations {
    const n = t.n;
    const loc: ChunkLocations = { packNo: new Uint32Array(n), offset: new Float64Array(n), storedLen: new Uint32Array(n), rawLen: new Uint32Array(n), codec: new Uint8Array(n), missing: -1 };
    if (native?.indexLocate && !js) {
      loc.missing = native.indexLocate(t.bytes, n, this.ids, this.head, this.packNo, this.offset, this.storedLen, this.rawLen, this.codec, this.live, this.slots, loc.packNo, loc.offset, loc.storedLen, loc.rawLen, loc.codec) as number;
      return loc;
    }
    for (let k = 0; k < n; k++) {
      loc.packNo[k] = NO_PACK;
      if (!t.hasId(k)) continue;
      const e = this.find(t.bytes, t.idAt(k));
      if (e < 0 || this.packNo[e] === PENDING) {
        if (loc.missing < 0) loc.missing = k;
        continue;
      }
      loc.packNo[k] = this.packNo[e]!;
      loc.offset[k] = this.offset[e]!;
      loc.storedLen[k] = this.storedLen[e]!;
      loc.rawLen[k] = this.rawLen[e]!;
      loc.codec[k] = this.codec[e]!;
    }
    return loc;
  }

  /** The pack a location's number names. */
  packName(no: number): string {
    return this.packs[no]!;
  }

  /** Forgets every chunk whose durable location is `pack` (the pack was removed). */
  dropPack(pack: string): void {
    const p = this.packNos.get(pack);
    if (p === undefined) return;
    for (let e = 0; e < this.count; e++) {
      if (!this.live[e] || this.packNo[e] !== p) continue;
      this.live[e] = 0;
      this.liveCount--;
    }
    this.compactIfSparse();
  }

  delete(id: Uint8Array): void {
    const e = this.find(id);
    if (e < 0) return;
    this.live[e] = 0;
    this.liveCount--;
    this.compactIfSparse();
  }

  /** Tombstones stay in the probe chains until the next rehash: when they outnumber live entries 3 to 1, compact. */
  private compactIfSparse(): void {
    if (this.liveCount * 4 < this.count && this.count > 4096) this.compact();
  }

  private compact(): void {
    let w = 0;
    for (let r = 0; r < this.count; r++) {
      if (!this.live[r]) continue;
      if (w !== r) {
        this.ids.copy(this.ids, w * ID_BYTES, r * ID_BYTES, (r + 1) * ID_BYTES);
        this.head[w] = this.head[r]!;
        this.packNo[w] = this.packNo[r]!;
        this.offset[w] = this.offset[r]!;
        this.storedLen[w] = this.storedLen[r]!;
        this.rawLen[w] = this.rawLen[r]!;
        this.codec[w] = this.codec[r]!;
        this.live[w] = 1;
      }
      w++;
    }
    this.live.fill(0, w, this.count);
    this.count = w;
    this.rehash(this.slots.length);
  }

  /** Every durable entry (verify, gc). */
  *entries(): Generator<{ id: Buffer; loc: IndexEntry }> {
    for (let e = 0; e < this.count; e++) {
      if (!this.live[e] || this.packNo[e] === PENDING) continue;
      yield {
        id: this.ids.subarray(e * ID_BYTES, (e + 1) * ID_BYTES),
        loc: { pack: this.packs[this.packNo[e]!]!, offset: this.offset[e]!, storedLen: this.storedLen[e]!, rawLen: this.rawLen[e]!, codec: this.codec[e]! },
      };
    }
  }
}
