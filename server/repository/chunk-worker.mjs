// Worker thread of the repository: hashes chunks (SHA-256, or HMAC-SHA-256 when the repository is
// encrypted), compresses new ones with zstd, seals them with AES-256-GCM, and opens them again for
// restores and verification. Plain JavaScript so it loads the same way under tsx, vitest and the CLI.
import { createCipheriv, createDecipheriv, createHash, createHmac, hash as oneShotHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';
import { chunkLengths, rechunkLengths } from './chunker.mjs';

const require = createRequire(import.meta.url);
const zstd = require('zstd-napi');

const CODEC_RAW = 0;
const CODEC_ZSTD = 1;
const ENCRYPTED = 0x80;
const ZERO = Buffer.alloc(1 << 20);

let encKey = null;
let idKey = null;
const compressor = new zstd.Compressor();
compressor.setParameters({ compressionLevel: Number(process.env.QUIESCE_ZSTD_LEVEL ?? 1) });
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
const decompressor = new zstd.Decompressor();
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

function seal(raw) {
  let codec = CODEC_RAW;
  let payload = raw;
  if (!looksIncompressible(raw)) {
    const z = compressor.compress(raw);
    // Data that compresses little is stored as it is: decompression would cost more than it saves.
    if (z.length < raw.length * 0.97) {
      codec = CODEC_ZSTD;
      payload = z;
    }
  }
  if (encKey) {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', encKey, nonce);
    payload = Buffer.concat([nonce, c.update(payload), c.final(), c.getAuthTag()]);
    codec |= ENCRYPTED;
  }
  return { codec, payload };
}

function open(codec, payload, rawLen) {
  let data = payload;
  if (codec & ENCRYPTED) {
    if (!encKey) throw new Error('chunk is encrypted but no key was given');
    const d = createDecipheriv('aes-256-gcm', encKey, data.subarray(0, 12));
    d.setAuthTag(data.subarray(data.length - 16));
    data = Buffer.concat([d.update(data.subarray(12, data.length - 16)), d.final()]);
  }
  const base = codec & ~ENCRYPTED;
  if (base === CODEC_ZSTD) data = decompressor.decompress(data);
  else if (base !== CODEC_RAW) throw new Error(`unknown codec ${base}`);
  if (data.length !== rawLen) throw new Error(`chunk length ${data.length} is not the recorded ${rawLen}`);
  return data;
}

function pack(parts) {
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  for (const p of parts) {
    p.copy(out, o);
    o += p.length;
  }
  return out;
}

parentPort.on('message', (m) => {
  try {
    if (m.op === 'init') {
      encKey = m.encKey ? Buffer.from(m.encKey) : null;
      idKey = m.idKey ? Buffer.from(m.idKey) : null;
      parentPort.postMessage({ id: m.id, ok: true });
    } else if (m.op === 'chunk' || m.op === 'rechunk' || m.op === 'hash') {
      // Cut the buffer into chunks (content-defined, or the given lengths), name each one; zero
      // chunks get no id. The buffer stays here for 'seal'.
      const buf = Buffer.from(m.buf);
      let resynced = true;
      let lengths = m.lengths;
      if (m.op === 'chunk') lengths = chunkLengths(buf, buf.length, m.final, m.base);
      else if (m.op === 'rechunk') ({ lengths, resynced } = rechunkLengths(buf, buf.length, m.final, m.boundaries, m.resyncAfter, m.base));
      const n = lengths.length;
      const ids = Buffer.alloc(n * 32);
      const zero = new Uint8Array(n);
      let o = 0;
      for (let i = 0; i < n; i++) {
        const c = buf.subarray(o, o + lengths[i]);
        if (isZero(c)) zero[i] = 1;
        else chunkId(c).copy(ids, i * 32);
        o += lengths[i];
      }
      segments.set(m.seg, { buf, lengths });
      parentPort.postMessage({ id: m.id, ok: true, lengths, resynced, ids: ids.buffer, zero: zero.buffer }, [ids.buffer, zero.buffer]);
    } else if (m.op === 'seal') {
      const s = segments.get(m.seg);
      segments.delete(m.seg);
      if (!s) throw new Error(`unknown segment ${m.seg}`);
      const starts = [];
      let o = 0;
      for (const l of s.lengths) {
        starts.push(o);
        o += l;
      }
      const parts = [];
      const meta = [];
      for (const i of m.indices) {
        const raw = s.buf.subarray(starts[i], starts[i] + s.lengths[i]);
        const { codec, payload } = seal(raw);
        meta.push({ index: i, codec, storedLen: payload.length, rawLen: raw.length });
        parts.push(payload);
      }
      const blobs = pack(parts);
      const ab = blobs.buffer.byteLength === blobs.length ? blobs.buffer : blobs.buffer.slice(blobs.byteOffset, blobs.byteOffset + blobs.length);
      parentPort.postMessage({ id: m.id, ok: true, meta, blobs: ab }, [ab]);
    } else if (m.op === 'drop') {
      segments.delete(m.seg);
      parentPort.postMessage({ id: m.id, ok: true });
    } else if (m.op === 'openPacked') {
      // Records at `where` in the buffer, decoded in order into one buffer; each checked against its id.
      const src = Buffer.from(m.buf);
      const ids = Buffer.from(m.ids);
      const n = m.storedLen.length;
      let total = 0;
      for (let i = 0; i < n; i++) total += m.rawLen[i];
      const out = m.keep ? Buffer.allocUnsafe(total) : null;
      const bad = [];
      let o = 0;
      for (let i = 0; i < n; i++) {
        const id = ids.subarray(i * 32, i * 32 + 32);
        try {
          const raw = open(m.codec[i], src.subarray(m.where[i], m.where[i] + m.storedLen[i]), m.rawLen[i]);
          if (m.verify && !chunkId(raw).equals(id)) bad.push({ chunkId: id.toString('base64'), problem: 'content does not match its id' });
          if (out) raw.copy(out, o);
        } catch (e) {
          bad.push({ chunkId: id.toString('base64'), problem: e instanceof Error ? e.message : String(e) });
          if (out) out.fill(0, o, o + m.rawLen[i]);
        }
        o += m.rawLen[i];
      }
      const data = out ?? Buffer.alloc(0);
      const ab = data.buffer.byteLength === data.length ? data.buffer : data.buffer.slice(data.byteOffset, data.byteOffset + data.length);
      parentPort.postMessage({ id: m.id, ok: true, data: ab, bad }, [ab]);
    } else if (m.op === 'open') {
      // Records to raw bytes, each checked against its id when asked.
      const src = Buffer.from(m.buf);
      const outs = [];
      const bad = [];
      for (const it of m.items) {
        try {
          const raw = open(it.codec, src.subarray(it.offset, it.offset + it.storedLen), it.rawLen);
          if (m.verify && !chunkId(raw).equals(Buffer.from(it.chunkId, 'base64'))) bad.push({ chunkId: it.chunkId, problem: 'content does not match its id' });
          outs.push(raw);
        } catch (e) {
          bad.push({ chunkId: it.chunkId, problem: e instanceof Error ? e.message : String(e) });
          outs.push(Buffer.alloc(it.rawLen));
        }
      }
      const data = m.keep ? pack(outs) : Buffer.alloc(0);
      const ab = data.buffer.byteLength === data.length ? data.buffer : data.buffer.slice(data.byteOffset, data.byteOffset + data.length);
      parentPort.postMessage({ id: m.id, ok: true, data: ab, bad }, [ab]);
    } else {
      throw new Error(`unknown op ${m.op}`);
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, ok: false, error: e instanceof Error ? e.message : String(e) });
  }
});
