// Worker thread of the repository: hashes chunks (SHA-256, or HMAC-SHA-256 when the repository is
// encrypted), compresses new ones (LZ4 or zstd), seals them with AES-256-GCM, and opens them again for
// restores and verification. Plain JavaScript so it loads the same way under tsx, vitest and the CLI.
import { createCipheriv, createDecipheriv, createHash, createHmac, hash as oneShotHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';
import { chunkLengths, chunkNamed, rechunkLengths } from './chunker.mjs';
import { readFully } from './read-fully.mjs';
import { native } from './native.mjs';

const require = createRequire(import.meta.url);
// zstd's context API: compress into and decompress out of buffers we own (no copies, no allocations).
const zstd = require('zstd-napi/binding');
/** LZ4 (lz4-napi: blocks with their raw length in front), loaded when first needed. */
let lz4 = null;
const lz4lib = () => (lz4 ??= require('lz4-napi'));

const CODEC_RAW = 0;
const CODEC_ZSTD = 1;
const CODEC_LZ4 = 2;
const ENCRYPTED = 0x80;
const ZERO = Buffer.alloc(1 << 20);

let encKey = null;
/** Shared record blob slabs (see the repository's BlobSlabs), as buffers. */
let slabs = [];
/** Shared read slabs: incremental window batches are read into these (see worker-engine.ts). */
let readSlabs = [];
let idKey = null;
/** The repository's cut parameters ({ min, mask }). */
let cut = null;
/** How new chunks are compressed: { codec: CODEC_ZSTD | CODEC_LZ4, level }. */
let seal = { codec: CODEC_ZSTD, level: 1 };
const cctx = new zstd.CCtx();
const dctx = new zstd.DCtx();
/** Room a record may need: its header plus the codecs' bound (or the raw bytes), plus the seal's nonce and tag. */
const recordBound = (rawLen) => RECORD_HEADER_BYTES + Math.max(zstd.compressBound(rawLen), rawLen + Math.floor(rawLen / 255) + 16) + 28;
const seen = new Uint8Array(256);

/**
 * Data that looks random (most of 512 sampled bytes distinct: compressed, encrypted, media) is
 * stored as it is: compressing it would spend time to gain nothing.
 */
function looksIncompressible(b) {
  if (b.length < 4096) return false;
  if (native?.sampledDistinct) return native.sampledDistinct(b) > 200;
  seen.fill(0);
  const step = Math.floor(b.length / 512);
  let distinct = 0;
  for (let i = 0; i < b.length; i += step) {
    if (!seen[b[i]]) {
      seen[b[i]] = 1;
      distinct++;
    }
  }
  return distinct > 200;
}
const segments = new Map();

function isZero(b) {
  for (let o = 0; o < b.length; o += ZERO.length) {
    const n = Math.min(ZERO.length, b.length - o);
    if (b.compare(ZERO, 0, n, o, o + n) !== 0) return false;
  }
  return true;
}

/** Whether chunk bytes `b` have the id at `ids[at, at + 32)`. */
function hasId(b, ids, at) {
  if (!idKey && native?.hasId) return native.hasId(b, ids, at);
  return chunkId(b).compare(ids, at, at + 32) === 0;
}

/**
 * Which of the chunks `data[starts[i], starts[i] + lengths[i])` do not match their ids (`ids` at
 * `idAt[i]`): their positions in the lists. Checked all at once by the addon (16 chunks at a time)
 * when it is there, else one by one.
 */
function mismatches(data, starts, lengths, ids, idAt) {
  const n = starts.length;
  if (n === 0) return [];
  if (native?.checkIds) {
    const bad = new Uint8Array(n);
    if (native.checkIds(data, Float64Array.from(starts), Float64Array.from(lengths), ids, Float64Array.from(idAt), idKey, bad) === 0) return [];
    const out = [];
    for (let i = 0; i < n; i++) if (bad[i]) out.push(i);
    return out;
  }
  const out = [];
  for (let i = 0; i < n; i++) if (!hasId(data.subarray(starts[i], starts[i] + lengths[i]), ids, idAt[i])) out.push(i);
  return out;
}

function chunkId(b) {
  if (idKey) return createHmac('sha256', idKey).update(b).digest();
  // The one-shot hash saves the per-chunk hash object (chunks are small and many).
  return oneShotHash ? oneShotHash('sha256', b, 'buffer') : createHash('sha256').update(b).digest();
}

/**
 * Seals `raw` into `out` at `at` (the payload only; the caller writes the record header): LZ4 or
 * zstd unless it looks or turns out incompressible, then AES-256-GCM when the repository is encrypted.
 */
function sealInto(raw, out, at) {
  let codec = CODEC_RAW;
  let length = 0;
  const dst = out.subarray(at);
  if (!looksIncompressible(raw)) {
    // lz4-napi puts the raw length in front of the block; the record has it already.
    const block = seal.codec === CODEC_LZ4 ? lz4lib().compressSync(raw).subarray(4) : null;
    const n = block ? block.length : cctx.compress2(dst, raw);
    // Data that compresses little is stored as it is: decompression would cost more than it saves.
    if (n < raw.length * 0.97) {
      codec = seal.codec;
      length = block ? block.copy(dst, 0) : n;
    }
  }
  if (codec === CODEC_RAW) length = raw.copy(dst, 0);
  if (encKey) {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', encKey, nonce);
    const sealed = Buffer.concat([nonce, c.update(dst.subarray(0, length)), c.final(), c.getAuthTag()]);
    length = sealed.copy(dst, 0);
    codec |= ENCRYPTED;
  }
  return { codec, length };
}

/**
 * Opens a stored record into `dst`: decrypts, decompresses or copies, checks the length; returns
 * the raw bytes (a view of `dst`).
 */
function open(codec, payload, rawLen, dst) {
  let data = payload;
  if (codec & ENCRYPTED) {
    if (!encKey) throw new Error('chunk is encrypted but no key was given');
    const d = createDecipheriv('aes-256-gcm', encKey, data.subarray(0, 12));
    d.setAuthTag(data.subarray(data.length - 16));
    data = Buffer.concat([d.update(data.subarray(12, data.length - 16)), d.final()]);
  }
  const base = codec & ~ENCRYPTED;
  if (dst.length < rawLen) throw new Error(`chunk length ${rawLen} is more than a chunk can be`);
  let n;
  if (base === CODEC_ZSTD) n = dctx.decompress(dst.subarray(0, rawLen), data);
  else if (base === CODEC_LZ4) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(rawLen);
    n = lz4lib().uncompressSync(Buffer.concat([len, data])).copy(dst, 0);
  } else if (base === CODEC_RAW) n = data.length === rawLen ? data.copy(dst, 0) : data.length;
  else throw new Error(`unknown codec ${base}`);
  if (n !== rawLen) throw new Error(`chunk length ${n} is not the recorded ${rawLen}`);
  return dst.subarray(0, rawLen);
}

/**
 * The addon decodes restore batches where it can (libzstd and liblz4 found: what its engine needs
 * to seal with LZ4); else each record is opened here (QUIESCE_RESTORE_DECODE=js chooses that: for
 * tests and diagnosis).
 */
const nativeDecode = process.env.QUIESCE_RESTORE_DECODE !== 'js' && !!(native?.decodeRecords && native.engineAvailable?.('lz4'));
/** What the addon's decode status codes mean. */
const DECODE_PROBLEMS = [null, 'its codec is unknown', 'chunk is encrypted but no key was given', 'it does not authenticate (damaged, or another key)', 'its compressed data is corrupt', 'its length is not the recorded one', 'it lies outside its pack span'];

/**
 * Decodes records into `out`: record i's payload is spans[recSpan[i]] at recAt[i], storedLen[i]
 * bytes, and its raw bytes go to outAt[i]. All in one addon call where it can, else one by one.
 * Returns why each record could not be decoded (null: it was).
 */
function decodeInto(spans, recSpan, recAt, storedLen, rawLen, codec, out, outAt) {
  const n = recAt.length;
  const problem = new Array(n).fill(null);
  if (nativeDecode) {
    const status = new Uint8Array(n);
    native.decodeRecords(spans, recSpan, recAt, storedLen, rawLen, codec, out, outAt, encKey, status);
    for (let i = 0; i < n; i++) if (status[i] !== 0) problem[i] = DECODE_PROBLEMS[status[i]] ?? `cannot be decoded (${status[i]})`;
    return problem;
  }
  for (let i = 0; i < n; i++) {
    const at = recAt[i];
    const o = outAt[i];
    try {
      open(codec[i], spans[recSpan[i]].subarray(at, at + storedLen[i]), rawLen[i], out.subarray(o, o + rawLen[i]));
    } catch (e) {
      problem[i] = e instanceof Error ? e.message : String(e);
    }
  }
  return problem;
}

/** Where restore batches read their pack spans (reused, grown as needed; one per batch in flight). */
const restoreReadBufs = [];

/**
 * Records of one restore batch: each span is mapped from the page cache where it lies within its
 * pack (no copy of the stored bytes), else read (one read each, asynchronously: another batch
 * decodes meanwhile); every record is decoded into `out` at `outAt` and checked against its id.
 */
async function restoreBatch(m) {
  let readBuf = null;
  const mapped = [];
  try {
    // Span i's bytes, as a buffer whose byte 0 is the span's first (m.spanAt[i] in `where` terms).
    const spans = await Promise.all(
      m.spanFile.map(async (name, i) => {
        const file = path.join(m.dir, `${name}.pack`);
        let fd;
        try {
          fd = fs.openSync(file, 'r');
        } catch {
          throw new Error(`pack ${name} is missing from the repository`);
        }
        try {
          const length = m.spanTo[i] - m.spanFrom[i];
          const truncated = () => new Error(`pack ${name} is truncated (wanted ${length} bytes at ${m.spanFrom[i]})`);
          if (native?.mapRange) {
            // A mapping past the end would fault: a short pack is reported, never mapped.
            if (fs.fstatSync(fd).size < m.spanTo[i]) throw truncated();
            const base = m.spanFrom[i] - (m.spanFrom[i] % MAP_ALIGN);
            const ab = await native.mapRange(fd, base, m.spanTo[i] - base);
            mapped.push(ab);
            return Buffer.from(ab, m.spanFrom[i] - base, length);
          }
          if (!readBuf) {
            readBuf = restoreReadBufs.pop();
            if (!readBuf || readBuf.length < m.total) readBuf = Buffer.allocUnsafe(Math.max(m.total, 8 << 20));
          }
          await readFully(fd, readBuf, m.spanAt[i], length, m.spanFrom[i], truncated);
          return readBuf.subarray(m.spanAt[i], m.spanAt[i] + length);
        } finally {
          fs.closeSync(fd);
        }
      }),
    );
    const ids = Buffer.from(m.ids);
    const out = Buffer.from(m.out);
    const bad = [];
    const idOf = (i) => ids.toString('base64', m.idAt[i], m.idAt[i] + 32);
    // The decoded chunks, checked against their ids together at the end.
    const which = [];
    const starts = [];
    const lengths = [];
    const idAt = [];
    const n = m.where.length;
    // Each record's span and place in it (records come span by span, in order).
    const recSpan = new Uint32Array(n);
    const recAt = new Float64Array(n);
    for (let i = 0, s = 0; i < n; i++) {
      while (s < spans.length - 1 && m.where[i] >= m.spanAt[s] + (m.spanTo[s] - m.spanFrom[s])) s++;
      recSpan[i] = s;
      recAt[i] = m.where[i] - m.spanAt[s];
    }
    // Why each record could not be decoded into its place in `out` (null: it was).
    const problem = decodeInto(spans, recSpan, recAt, m.storedLen, m.rawLen, m.codec, out, m.outAt);
    for (let i = 0; i < n; i++) {
      if (problem[i] !== null) {
        bad.push({ chunkId: idOf(i), problem: problem[i] });
        continue;
      }
      which.push(i);
      // Where the repository placed it (runs of chunks are aligned for in-place writes).
      starts.push(m.outAt[i]);
      lengths.push(m.rawLen[i]);
      idAt.push(m.idAt[i]);
    }
    for (const j of mismatches(out, starts, lengths, ids, idAt)) bad.push({ chunkId: idOf(which[j]), problem: 'content does not match its id' });
    return { bad };
  } finally {
    for (const ab of mapped) native.unmapRange(ab);
    if (readBuf && restoreReadBufs.length < 3) restoreReadBufs.push(readBuf);
  }
}

/** Pack index entry: id (32), offset (u64), stored length (u32), raw length (u32), codec (u8). */
const IDX_ENTRY_BYTES = 32 + 8 + 4 + 4 + 1;
/** Verify goes through a pack in windows of this size (a record is far smaller), two per call: one is prepared while the other is checked. */
const VERIFY_WINDOW = 8 << 20;
/** Where verify decodes a window's compressed or encrypted chunks before checking them together. */
const verifyArena = Buffer.allocUnsafeSlow(4 << 20);
/** Buffers of verify windows that are read rather than mapped (a truncated pack), reused. */
const verifyBufs = [];

/**
 * Verifies a pack against its index file (`m.idx`, the file's bytes; `m.keep` selects entries):
 * the pack is read window by window, the next window while this one is checked; each record's
 * header must match the index, its payload must decode to its raw length and hash to its id.
 * Returns the problems (by chunk id), the entries checked and their raw bytes.
 */
async function verifyPack(m) {
  const idx = Buffer.from(m.idx);
  const n = idx.readUInt32LE(4);
  const order = [];
  const bad = [];
  for (let i = 0; i < n; i++) if (!m.keep || m.keep[i]) order.push(i);
  const offsetOf = (i) => idx.readUInt32LE(8 + i * IDX_ENTRY_BYTES + 32) + idx.readUInt32LE(8 + i * IDX_ENTRY_BYTES + 36) * 2 ** 32;
  const storedOf = (i) => idx.readUInt32LE(8 + i * IDX_ENTRY_BYTES + 40);
  const idOf = (i) => idx.subarray(8 + i * IDX_ENTRY_BYTES, 8 + i * IDX_ENTRY_BYTES + 32);
  const damaged = (i, problem) => bad.push({ chunkId: idOf(i).toString('base64'), problem });
  order.sort((x, y) => offsetOf(x) - offsetOf(y));
  // An index entry that puts a record before the pack's first header is damaged as it stands.
  while (order.length && offsetOf(order[0]) < PACK_FIRST_PAYLOAD) damaged(order.shift(), `record header in pack ${m.pack} does not match its index`);
  let fd;
  try {
    fd = await fs.promises.open(m.file, 'r');
  } catch {
    for (const i of order) damaged(i, `pack ${m.pack} is missing`);
    return { bad, count: order.length, bytes: 0 };
  }
  // Windows of whole records, in file order: [file start, file end, first, end) over `order`.
  const windows = [];
  for (let k = 0; k < order.length; ) {
    const start = offsetOf(order[k]) - RECORD_HEADER_BYTES;
    let end = start;
    const first = k;
    while (k < order.length && (k === first || offsetOf(order[k]) + storedOf(order[k]) - start <= VERIFY_WINDOW)) {
      end = Math.max(end, offsetOf(order[k]) + storedOf(order[k]));
      k++;
    }
    windows.push([start, end, first, k]);
  }
  const packSize = (await fd.stat()).size;
  const bufs = [];
  /**
   * Window w's bytes: mapped when it lies within the pack (no copy), else read into a buffer
   * (`got` is fewer than asked when the pack is truncated).
   */
  const readWindow = async (w) => {
    const [start, end] = windows[w];
    if (native?.mapRange && end <= packSize) {
      const base = start - (start % MAP_ALIGN);
      const mapped = await native.mapRange(fd.fd, base, end - base);
      return { data: Buffer.from(mapped, start - base, end - start), got: end - start, mapped };
    }
    let buf = bufs[w % 2] ?? verifyBufs.pop() ?? Buffer.allocUnsafeSlow(VERIFY_WINDOW);
    if (buf.length < end - start) buf = Buffer.allocUnsafeSlow(end - start);
    bufs[w % 2] = buf;
    let done = 0;
    while (done < end - start) {
      const { bytesRead } = await fd.read(buf, done, end - start - done, start + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return { data: buf, got: done, mapped: null };
  };
  const unmap = (win) => {
    if (win?.mapped) native.unmapRange(win.mapped);
  };
  let bytes = 0;
  let next = windows.length ? readWindow(0) : null;
  try {
    for (let w = 0; w < windows.length; w++) {
      const win = await next;
      next = w + 1 < windows.length ? readWindow(w + 1) : null;
      const { data, got } = win;
      const [start, , first, end] = windows[w];
      try {
        checkWindow(first, end, start, data, got);
      } finally {
        unmap(win);
      }
    }
  } finally {
    // A read still in flight (after a failed one) finishes before its descriptor closes.
    unmap(await next?.catch(() => null));
    await fd.close();
    for (const b of bufs) if (verifyBufs.length < 4 && b.length === VERIFY_WINDOW) verifyBufs.push(b);
  }
  return { bad, count: order.length, bytes };

  /**
   * Checks the records order[first, end) of a window that starts at pack offset `start`. Stored raw
   * ones are hashed where they lie; the others are decoded into the arena, as many at a time as
   * it holds; both are checked against their ids in batches.
   */
  function checkWindow(first, end, start, data, got) {
    const inPlace = { data, which: [], starts: [], lengths: [], idAt: [] };
    const decoded = { data: verifyArena, which: [], starts: [], lengths: [], idAt: [] };
    let used = 0;
    const check = (b) => {
      for (const j of mismatches(b.data, b.starts, b.lengths, idx, b.idAt)) damaged(b.which[j], 'content does not match its id');
      b.which.length = b.starts.length = b.lengths.length = b.idAt.length = 0;
    };
    // The arena's records (`decoded`) wait there undecoded, with where each lies in the window:
    // decoded together, the ones that cannot be decoded set aside, then checked.
    const waiting = { at: [], storedLen: [], codec: [] };
    const decodeWaiting = () => {
      const n = waiting.at.length;
      const problem = decodeInto([data], new Uint32Array(n), Float64Array.from(waiting.at), Uint32Array.from(waiting.storedLen), Uint32Array.from(decoded.lengths), Uint8Array.from(waiting.codec), verifyArena, Float64Array.from(decoded.starts));
      let kept = 0;
      for (let j = 0; j < n; j++) {
        if (problem[j] !== null) {
          damaged(decoded.which[j], problem[j]);
          continue;
        }
        decoded.which[kept] = decoded.which[j];
        decoded.starts[kept] = decoded.starts[j];
        decoded.lengths[kept] = decoded.lengths[j];
        decoded.idAt[kept] = decoded.idAt[j];
        kept++;
      }
      decoded.which.length = decoded.starts.length = decoded.lengths.length = decoded.idAt.length = kept;
      waiting.at.length = waiting.storedLen.length = waiting.codec.length = 0;
      check(decoded);
    };
    for (let k = first; k < end; k++) {
      const i = order[k];
      const e = 8 + i * IDX_ENTRY_BYTES + 32;
      const codec = idx[e + 16];
      const storedLen = idx.readUInt32LE(e + 8);
      const rawLen = idx.readUInt32LE(e + 12);
      const off = offsetOf(i) - start;
      const h = off - RECORD_HEADER_BYTES;
      const id = idOf(i);
      if (off + storedLen > got) damaged(i, `pack ${m.pack} is truncated`);
      else if (data[h] !== codec || data.readUInt32LE(h + 1) !== storedLen || data.readUInt32LE(h + 5) !== rawLen || data.compare(id, 0, 32, h + 9, h + 41) !== 0)
        damaged(i, `record header in pack ${m.pack} does not match its index`);
      else {
        bytes += rawLen;
        try {
          let b = inPlace;
          let at = off;
          if (codec !== CODEC_RAW) {
            if (rawLen > verifyArena.length) throw new Error(`chunk length ${rawLen} is more than a chunk can be`);
            if (used + rawLen > verifyArena.length) {
              decodeWaiting();
              used = 0;
            }
            waiting.at.push(off);
            waiting.storedLen.push(storedLen);
            waiting.codec.push(codec);
            b = decoded;
            at = used;
            used += rawLen;
          } else if (storedLen !== rawLen) throw new Error(`chunk length ${storedLen} is not the recorded ${rawLen}`);
          b.which.push(i);
          b.starts.push(at);
          b.lengths.push(rawLen);
          b.idAt.push(8 + i * IDX_ENTRY_BYTES);
        } catch (err) {
          damaged(i, err instanceof Error ? err.message : String(err));
        }
      }
    }
    check(inPlace);
    decodeWaiting();
  }
}

/** Record header in a pack: codec (1), stored length (4), raw length (4), chunk id (32). */
const RECORD_HEADER_BYTES = 41;
/** A pack starts with its 4-byte magic; the first record's payload follows its header. */
const PACK_FIRST_PAYLOAD = 4 + RECORD_HEADER_BYTES;

/** A segment's ArrayBuffer goes back to the main thread to be read into again. */
function giveBack(buf) {
  return buf.byteOffset === 0 ? buf.buffer : null;
}

/**
 * Buffers this worker reads source files into (a source with a descriptor is read here, so its
 * bytes never cross threads: no transfers, no external-memory collections on either side).
 */
const ownBuffers = new Map();
const MAP_ALIGN = 4096;
/** Bytes of `ownBuffers` kept for reuse: the repository's in-flight byte budget (3 segments per worker, 2 workers). */
const OWN_KEEP_BYTES = 48 << 20;
let ownBytes = 0;
/** Buffer sizes: incremental windows come in batches of up to 2 MiB, segments of 8 MiB. */
const ownClass = (len) => (len <= 2 << 20 ? 2 << 20 : len <= 8 << 20 ? 8 << 20 : len);

/**
 * The bytes a message names: `buf` handed over by the main thread, or what `readInput` read for it.
 */
function input(m) {
  return m.bytes ?? { buf: Buffer.from(m.buf, 0, m.len ?? m.buf.byteLength), own: false };
}

/**
 * Reads the `reads` ([file offset, buffer offset, length] triples) of the descriptor `fd` into
 * one of this worker's buffers, asynchronously: the worker hashes and compresses earlier
 * messages' bytes while the device reads these (a cold source is not read one request at a time).
 */
async function readInput(m) {
  // A whole segment of a file is mapped rather than read (no copy of every byte; holes cost
  // nothing): the repository says when reads may be mapped (within the file; a mapping past its
  // end would fault); this worker maps a single read at a page-aligned position.
  if (native?.mapRange && m.mappable && m.reads.length === 3 && m.reads[1] === 0 && m.reads[0] % MAP_ALIGN === 0) {
    const mapped = await native.mapRange(m.fd, m.reads[0], m.len);
    return { buf: Buffer.from(mapped), own: true, mapped };
  }
  // Into the read slab the main thread picked (shared by the workers: it is free again once this
  // message's segment is sealed or dropped), else into one of this worker's buffers.
  const slab = m.readSlab !== undefined && m.readSlab !== null ? readSlabs[m.readSlab] : null;
  let buf = slab;
  if (!buf) {
    const size = ownClass(m.len);
    buf = ownBuffers.get(size)?.pop();
    if (buf) ownBytes -= buf.length;
    else buf = Buffer.allocUnsafeSlow(size);
  }
  const reads = [];
  for (let i = 0; i < m.reads.length; i += 3) {
    const [pos, at, length] = [m.reads[i], m.reads[i + 1], m.reads[i + 2]];
    reads.push(readFully(m.fd, buf, at, length, pos, (done) => new Error(`the source ends before byte ${pos + length} (read ${done} of ${length} bytes at ${pos})`)));
  }
  // Every read has ended before the reply (a failed message's slab is reused at once).
  const failed = (await Promise.allSettled(reads)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return { buf: buf.subarray(0, m.len), own: true, slab: slab !== null };
}

/** Done with a segment's bytes: this worker's buffer is kept for the next read, the main thread's goes back (returned: transfer it). */
function release(seg) {
  if (seg.slab) return null;
  if (seg.mapped) {
    native.unmapRange(seg.mapped);
    return null;
  }
  if (!seg.own) return giveBack(seg.buf);
  const whole = Buffer.from(seg.buf.buffer);
  const list = ownBuffers.get(whole.length) ?? [];
  // As many as were in flight at once (the repository's byte budget bounds them; incremental
  // windows come in 2 MiB batches, many at a time): a buffer let go is a buffer the next read
  // allocates and faults in again, page by page.
  if (ownBytes + whole.length <= OWN_KEEP_BYTES && ownClass(whole.length) === whole.length) {
    list.push(whole);
    ownBytes += whole.length;
  }
  ownBuffers.set(whole.length, list);
  return null;
}


/** Names the chunks of `buf` at `starts` / `lengths`: SHA-256 (or HMAC) ids, none for zero chunks, which are flagged. */
function nameChunks(buf, starts, lengths) {
  const n = lengths.length;
  const ids = Buffer.alloc(n * 32);
  const zero = new Uint8Array(n);
  if (!idKey && native?.nameChunks) {
    native.nameChunks(buf, Float64Array.from(starts), Uint32Array.from(lengths), ids, zero);
    return { ids, zero };
  }
  for (let i = 0; i < n; i++) {
    const c = buf.subarray(starts[i], starts[i] + lengths[i]);
    if (isZero(c)) zero[i] = 1;
    else chunkId(c).copy(ids, i * 32);
  }
  return { ids, zero };
}

/**
 * Keeps a named segment here for 'seal' or 'drop' and replies with its names. The ids go back as
 * a copy: the worker keeps its own for the records of 'seal'.
 */
function holdSegment(m, seg, zero, reply) {
  segments.set(m.seg, seg);
  const out = new Uint8Array(seg.ids.length);
  out.set(seg.ids);
  parentPort.postMessage({ id: m.id, ok: true, ...reply, ids: out.buffer, zero: zero.buffer }, [out.buffer, zero.buffer]);
}

/** The error reply to message `m`. */
function fail(m, e) {
  parentPort.postMessage({ id: m.id, ok: false, error: e instanceof Error ? e.message : String(e) });
}

/** Operations on a segment's bytes: when the worker reads them itself, the read comes first. */
const READS_INPUT = new Set(['name']);

parentPort.on('message', (m) => {
  if (m.fd !== undefined && READS_INPUT.has(m.op)) {
    readInput(m).then(
      (bytes) => handle({ ...m, bytes }),
      (e) => fail(m, e),
    );
    return;
  }
  handle(m);
});

/** A window cut where its parent was: its length ends on one of the parent's boundaries. */
function keptCuts(part) {
  const lengths = [];
  let pos = 0;
  for (const b of part.bounds) {
    if (b > part.length) break;
    lengths.push(b - pos);
    pos = b;
  }
  if (pos !== part.length) lengths.push(part.length - pos);
  return { lengths, resynced: true };
}

function handle(m) {
  try {
    if (m.op === 'init') {
      encKey = m.encKey ? Buffer.from(m.encKey) : null;
      cut = m.cut;
      idKey = m.idKey ? Buffer.from(m.idKey) : null;
      slabs = (m.slabs ?? []).map((sab) => Buffer.from(sab));
      readSlabs = (m.readSlabs ?? []).map((sab) => Buffer.from(sab));
      seal = m.seal;
      if (seal.codec === CODEC_ZSTD) cctx.setParameter(zstd.CParameter.compressionLevel, seal.level);
      parentPort.postMessage({ id: m.id, ok: true });
    } else if (m.op === 'name') {
      // Cut each part of the bytes (content-defined, at the parent's cuts, or at given lengths) and
      // name every chunk; zero chunks get no id. The bytes stay here for 'seal' unless not kept.
      const bytes = input(m);
      const { buf } = bytes;
      const partCounts = [];
      const resynced = [];
      let starts;
      let lengths;
      let named = null;
      const [only] = m.parts;
      if (m.parts.length === 1 && only.mode === 'cdc' && only.resyncAfter === Infinity && only.at === 0 && !idKey) {
        // A whole segment: cut and named in one pass when the ids are plain SHA-256 (an HMAC is keyed: JavaScript names those).
        named = chunkNamed(buf.subarray(0, only.length), only.length, only.final, only.base, cut);
        lengths = named?.lengths ?? chunkLengths(buf, only.length, only.final, only.base, cut);
        partCounts.push(lengths.length);
        resynced.push(only.final);
        starts = new Float64Array(lengths.length);
        let p = 0;
        for (let i = 0; i < lengths.length; i++) {
          starts[i] = p;
          p += lengths[i];
        }
      } else {
        starts = [];
        lengths = [];
        for (const part of m.parts) {
          const sub = buf.subarray(part.at, part.at + part.length);
          const r =
            part.mode === 'keep'
              ? keptCuts(part)
              : part.mode === 'given'
                ? { lengths: part.bounds, resynced: true }
                : rechunkLengths(sub, sub.length, part.final, part.bounds, part.resyncAfter, part.base, cut);
          partCounts.push(r.lengths.length);
          resynced.push(r.resynced);
          let p = part.at;
          for (const l of r.lengths) {
            starts.push(p);
            lengths.push(l);
            p += l;
          }
        }
      }
      const { ids, zero } = named ?? nameChunks(buf, starts, lengths);
      if (m.keep === false) {
        // Only the names were wanted: the buffer goes straight back.
        const back = release(bytes);
        parentPort.postMessage({ id: m.id, ok: true, lengths, partCounts, resynced, ids: ids.buffer, zero: zero.buffer, buf: back }, [ids.buffer, zero.buffer, ...(back ? [back] : [])]);
        return;
      }
      holdSegment(m, { ...bytes, starts, lengths, ids }, zero, { lengths, partCounts, resynced });
    } else if (m.op === 'seal') {
      // The new chunks of a segment as pack records (codec, stored length, raw length, id, payload),
      // one contiguous run the writer appends as it is; the segment's buffer goes back for reuse.
      const s = segments.get(m.seg);
      segments.delete(m.seg);
      if (!s) throw new Error(`unknown segment ${m.seg}`);
      const starts = s.starts;
      const n = m.indices.length;
      const codecs = new Uint8Array(n);
      const storedLen = new Uint32Array(n);
      const at = new Float64Array(n);
      let room = 0;
      for (const i of m.indices) room += recordBound(s.lengths[i]);
      // Into the shared slab the main thread picked when it has room, else a blob of its own
      // (never from Node's shared pool: the ArrayBuffer is handed over whole).
      const slab = m.slab !== null && m.slab !== undefined && slabs[m.slab].length >= room ? slabs[m.slab] : null;
      const blob = slab ?? Buffer.allocUnsafeSlow(room);
      let total = 0;
      for (let j = 0; j < n; j++) {
        const i = m.indices[j];
        const raw = s.buf.subarray(starts[i], starts[i] + s.lengths[i]);
        const { codec, length } = sealInto(raw, blob, total + RECORD_HEADER_BYTES);
        blob.writeUInt8(codec, total);
        blob.writeUInt32LE(length, total + 1);
        blob.writeUInt32LE(raw.length, total + 5);
        s.ids.copy(blob, total + 9, i * 32, i * 32 + 32);
        codecs[j] = codec;
        storedLen[j] = length;
        at[j] = total + RECORD_HEADER_BYTES;
        total += RECORD_HEADER_BYTES + length;
      }
      // The records fill a prefix of the blob.
      const ab = slab ? null : blob.buffer;
      const back = release(s);
      parentPort.postMessage({ id: m.id, ok: true, codecs, storedLen, at, blob: ab, blobLen: total, buf: back }, [...(ab ? [ab] : []), codecs.buffer, storedLen.buffer, at.buffer, ...(back ? [back] : [])]);
    } else if (m.op === 'drop') {
      const s = segments.get(m.seg);
      segments.delete(m.seg);
      const back = s ? release(s) : null;
      parentPort.postMessage({ id: m.id, ok: true, buf: back }, back ? [back] : []);
    } else if (m.op === 'verifyPack') {
      verifyPack(m).then(
        (result) => parentPort.postMessage({ id: m.id, ok: true, ...result }),
        (e) => fail(m, e),
      );
    } else if (m.op === 'restoreBatch') {
      restoreBatch(m).then(
        (r) => parentPort.postMessage({ id: m.id, ok: true, out: m.out, bad: r.bad }, [m.out]),
        (e) => fail(m, e),
      );
    } else {
      throw new Error(`unknown op ${m.op}`);
    }
  } catch (e) {
    fail(m, e);
  }
}
