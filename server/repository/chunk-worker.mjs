// Worker thread of the repository: hashes chunks (SHA-256, or HMAC-SHA-256 when the repository is
// encrypted), compresses new ones with zstd, seals them with AES-256-GCM, and opens them again for
// restores and verification. Plain JavaScript so it loads the same way under tsx, vitest and the CLI.
import { createCipheriv, createDecipheriv, createHash, createHmac, hash as oneShotHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';
import { chunkLengths, rechunkLengths } from './chunker.mjs';
import { readFully } from './read-fully.mjs';

const require = createRequire(import.meta.url);
// zstd's context API: compress into and decompress out of buffers we own (no copies, no allocations).
const zstd = require('zstd-napi/binding');

const CODEC_RAW = 0;
const CODEC_ZSTD = 1;
const ENCRYPTED = 0x80;
const ZERO = Buffer.alloc(1 << 20);

let encKey = null;
/** Shared record blob slabs (see the repository's BlobSlabs), as buffers. */
let slabs = [];
let idKey = null;
const cctx = new zstd.CCtx();
cctx.setParameter(zstd.CParameter.compressionLevel, Number(process.env.QUIESCE_ZSTD_LEVEL ?? 1));
const dctx = new zstd.DCtx();
/** Room a record may need: its header plus zstd's bound (or the raw bytes), plus the seal's nonce and tag. */
const recordBound = (rawLen) => RECORD_HEADER_BYTES + Math.max(zstd.compressBound(rawLen), rawLen) + 28;
const seen = new Uint8Array(256);

/**
 * Data that looks random (most of 512 sampled bytes distinct: compressed, encrypted, media) is
 * stored as it is: zstd would spend time to gain nothing.
 */
function looksIncompressible(b) {
  if (b.length < 4096) return false;
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

function chunkId(b) {
  if (idKey) return createHmac('sha256', idKey).update(b).digest();
  // The one-shot hash saves the per-chunk hash object (chunks are small and many).
  return oneShotHash ? oneShotHash('sha256', b, 'buffer') : createHash('sha256').update(b).digest();
}

/**
 * Seals `raw` into `out` at `at` (the payload only; the caller writes the record header): zstd
 * unless it looks or turns out incompressible, then AES-256-GCM when the repository is encrypted.
 */
function sealInto(raw, out, at) {
  let codec = CODEC_RAW;
  let length = 0;
  const dst = out.subarray(at);
  if (!looksIncompressible(raw)) {
    const n = cctx.compress2(dst, raw);
    // Data that compresses little is stored as it is: decompression would cost more than it saves.
    if (n < raw.length * 0.97) {
      codec = CODEC_ZSTD;
      length = n;
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

/** Scratch for chunks decoded only to be checked (verify): the biggest chunk is MAX_CHUNK. */
const scratch = Buffer.allocUnsafe(1 << 17);

/**
 * Opens a stored record: decrypts, decompresses into `dst` (scratch when absent), checks the
 * length; returns the raw bytes (a view of `dst`).
 */
function open(codec, payload, rawLen, dst = scratch) {
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
  else if (base === CODEC_RAW) n = data.length === rawLen ? data.copy(dst, 0) : data.length;
  else throw new Error(`unknown codec ${base}`);
  if (n !== rawLen) throw new Error(`chunk length ${n} is not the recorded ${rawLen}`);
  return dst.subarray(0, rawLen);
}

/** Where restore batches read their pack spans (reused, grown as needed; one per batch in flight). */
const restoreReadBufs = [];

/**
 * Records of one restore batch: the spans are read here (one read each, asynchronously: another
 * batch decodes meanwhile), every record is decoded into `out` in order and checked against its id.
 */
async function restoreBatch(m) {
  let readBuf = restoreReadBufs.pop();
  if (!readBuf || readBuf.length < m.total) readBuf = Buffer.allocUnsafe(Math.max(m.total, 8 << 20));
  try {
    await Promise.all(
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
          await readFully(fd, readBuf, m.spanAt[i], length, m.spanFrom[i], () => new Error(`pack ${name} is truncated (wanted ${length} bytes at ${m.spanFrom[i]})`));
        } finally {
          fs.closeSync(fd);
        }
      }),
    );
    const ids = Buffer.from(m.ids);
    const out = Buffer.from(m.out);
    const bad = [];
    let o = 0;
    for (let i = 0; i < m.where.length; i++) {
      const id = ids.subarray(i * 32, i * 32 + 32);
      try {
        // Decoded straight into its place in `out`.
        const raw = open(m.codec[i], readBuf.subarray(m.where[i], m.where[i] + m.storedLen[i]), m.rawLen[i], out.subarray(o, o + m.rawLen[i]));
        if (!chunkId(raw).equals(id)) bad.push({ chunkId: id.toString('base64'), problem: 'content does not match its id' });
      } catch (e) {
        bad.push({ chunkId: id.toString('base64'), problem: e instanceof Error ? e.message : String(e) });
      }
      o += m.rawLen[i];
    }
    return { bad };
  } finally {
    if (restoreReadBufs.length < 3) restoreReadBufs.push(readBuf);
  }
}

/** Reads a whole file into `buf` (a bigger one when it does not fit); null when it cannot be read. */
async function readFileInto(file, buf) {
  let fh;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch {
    return null;
  }
  try {
    const size = (await fh.stat()).size;
    if (buf.length < size) buf = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await fh.read(buf, done, size - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return { buf, data: buf.subarray(0, done) };
  } finally {
    await fh.close();
  }
}

/** Read buffers of verify calls, reused (a call that is reading holds one; two calls overlap). */
const verifyBufs = [];

/**
 * Verifies a pack: read asynchronously (another call's check runs meanwhile), then each record's
 * header must match the index, its payload must decode to its raw length and hash to its id.
 * Returns the problems (by record) and the raw bytes checked.
 */
async function verifyPack(m) {
  const read = await readFileInto(m.file, verifyBufs.pop() ?? Buffer.alloc(0));
  try {
    return checkPack(m, read?.data ?? null);
  } finally {
    if (read && verifyBufs.length < 3) verifyBufs.push(read.buf);
  }
}

function checkPack(m, data) {
  const bad = [];
  if (!data) {
    for (let i = 0; i < m.where.length; i++) bad.push({ index: i, problem: `pack ${m.pack} is missing` });
    return { bad, bytes: 0 };
  }
  const ids = Buffer.from(m.ids);
  let bytes = 0;
  for (let i = 0; i < m.where.length; i++) {
    const off = m.where[i];
    const h = off - RECORD_HEADER_BYTES;
    const id = ids.subarray(i * 32, i * 32 + 32);
    if (off + m.storedLen[i] > data.length) bad.push({ index: i, problem: `pack ${m.pack} is truncated` });
    else if (data[h] !== m.codec[i] || data.readUInt32LE(h + 1) !== m.storedLen[i] || data.readUInt32LE(h + 5) !== m.rawLen[i] || !data.subarray(h + 9, h + 41).equals(id))
      bad.push({ index: i, problem: `record header in pack ${m.pack} does not match its index` });
    else {
      bytes += m.rawLen[i];
      try {
        const raw = open(m.codec[i], data.subarray(off, off + m.storedLen[i]), m.rawLen[i]);
        if (!chunkId(raw).equals(id)) bad.push({ index: i, problem: 'content does not match its id' });
      } catch (e) {
        bad.push({ index: i, problem: e instanceof Error ? e.message : String(e) });
      }
    }
  }
  return { bad, bytes };
}

/** Record header in a pack: codec (1), stored length (4), raw length (4), chunk id (32). */
const RECORD_HEADER_BYTES = 41;

/** A segment's ArrayBuffer goes back to the main thread to be read into again. */
function giveBack(buf) {
  return buf.byteOffset === 0 ? buf.buffer : null;
}

/**
 * Buffers this worker reads source files into (a source with a descriptor is read here, so its
 * bytes never cross threads: no transfers, no external-memory collections on either side).
 */
const ownBuffers = new Map();
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
  const size = ownClass(m.len);
  const buf = ownBuffers.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
  const reads = [];
  for (let i = 0; i < m.reads.length; i += 3) {
    const [pos, at, length] = [m.reads[i], m.reads[i + 1], m.reads[i + 2]];
    reads.push(readFully(m.fd, buf, at, length, pos, (done) => new Error(`the source ends before byte ${pos + length} (read ${done} of ${length} bytes at ${pos})`)));
  }
  await Promise.all(reads);
  return { buf: buf.subarray(0, m.len), own: true };
}

/** Done with a segment's bytes: this worker's buffer is kept for the next read, the main thread's goes back (returned: transfer it). */
function release(seg) {
  if (!seg.own) return giveBack(seg.buf);
  const whole = Buffer.from(seg.buf.buffer);
  const list = ownBuffers.get(whole.length) ?? [];
  // As many as are in flight at once in this worker, within the repository's byte budget.
  if (list.length < 6 && ownClass(whole.length) === whole.length) list.push(whole);
  ownBuffers.set(whole.length, list);
  return null;
}


/** Names the chunks of `buf` at `starts` / `lengths`: SHA-256 (or HMAC) ids, none for zero chunks, which are flagged. */
function nameChunks(buf, starts, lengths) {
  const n = lengths.length;
  const ids = Buffer.alloc(n * 32);
  const zero = new Uint8Array(n);
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
const READS_INPUT = new Set(['chunk', 'rechunk', 'hash', 'rechunkMany']);

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

function handle(m) {
  try {
    if (m.op === 'init') {
      encKey = m.encKey ? Buffer.from(m.encKey) : null;
      idKey = m.idKey ? Buffer.from(m.idKey) : null;
      slabs = (m.slabs ?? []).map((sab) => Buffer.from(sab));
      parentPort.postMessage({ id: m.id, ok: true });
    } else if (m.op === 'chunk' || m.op === 'rechunk' || m.op === 'hash') {
      // Cut the buffer into chunks (content-defined, or the given lengths), name each one; zero
      // chunks get no id. The buffer stays here for 'seal'.
      const { buf, own } = input(m);
      let resynced = true;
      let lengths = m.lengths;
      if (m.op === 'chunk') lengths = chunkLengths(buf, buf.length, m.final, m.base, m.cut);
      else if (m.op === 'rechunk') ({ lengths, resynced } = rechunkLengths(buf, buf.length, m.final, m.boundaries, m.resyncAfter, m.base, m.cut));
      const starts = new Float64Array(lengths.length);
      for (let i = 0, p = 0; i < lengths.length; i++) {
        starts[i] = p;
        p += lengths[i];
      }
      const { ids, zero } = nameChunks(buf, starts, lengths);
      if (m.keep === false) {
        // Only the names were wanted: the buffer goes straight back.
        const back = release({ buf, own });
        parentPort.postMessage({ id: m.id, ok: true, lengths, resynced, ids: ids.buffer, zero: zero.buffer, buf: back }, [ids.buffer, zero.buffer, ...(back ? [back] : [])]);
        return;
      }
      holdSegment(m, { buf, own, starts, lengths, ids }, zero, { lengths, resynced });
    } else if (m.op === 'rechunkMany') {
      // Several incremental windows read into one buffer (one round trip instead of one each):
      // each part is re-chunked on its own; the chunks of all parts are named in order.
      const { buf, own } = input(m);
      const partLengths = [];
      const resynced = [];
      const allStarts = [];
      const allLengths = [];
      for (const part of m.parts) {
        const sub = buf.subarray(part.at, part.at + part.length);
        const r = rechunkLengths(sub, sub.length, part.final, part.boundaries, part.resyncAfter, part.base, m.cut);
        partLengths.push(r.lengths);
        resynced.push(r.resynced);
        let p = part.at;
        for (const l of r.lengths) {
          allStarts.push(p);
          allLengths.push(l);
          p += l;
        }
      }
      const { ids, zero } = nameChunks(buf, allStarts, allLengths);
      holdSegment(m, { buf, own, starts: allStarts, lengths: allLengths, ids }, zero, { partLengths, resynced });
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
