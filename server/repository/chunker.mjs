// Content-defined chunking (a gear rolling hash, FastCDC-style minimum skip), shared by the worker
// threads and the tests. Plain JavaScript: it runs inside worker threads without a TypeScript loader.
//
// A cut falls after byte i when the gear hash of the bytes since the chunk start has all MASK bits
// clear, never before MIN_CHUNK bytes and always at MAX_CHUNK. The hash only "sees" the last 32
// bytes, so after an edit the cuts fall back on the old ones within a chunk or two: an incremental
// re-chunks a short window around each changed extent, not the disk.
//
// Runs of zeros never cut the gear hash (the table is chosen so). A chunk that starts in zeros is a
// zero chunk up to the next multiple of MAX_CHUNK of the disk: zero runs are cut on an absolute grid,
// found by a fast compare, never hashed, and an edit inside free space resyncs at the next grid point.
import { createHash } from 'node:crypto';
import { native } from './native.mjs';

/**
 * Defaults for new repositories: at least 8 KiB, then a cut with probability 2^-14 per byte (about
 * 16 KiB more), ~24 KiB on average. Measured on the VM-disk corpus (../shared/bench), this is both
 * smaller (zstd works better on bigger chunks than dedup loses) and faster (half the chunks to
 * name, index and seal) than 4 KiB / 13 bits. A repository records its own parameters
 * (config.json) and keeps them: incrementals must cut the way its parent was cut.
 */
export const MIN_CHUNK = 8192;
export const MASK_BITS = 14;
export const MAX_CHUNK = 65536;
export const MASK = maskOf(MASK_BITS);

/** The gear-hash mask for `bits` (at most 14: the mask sits in bits 18..31). */
export function maskOf(bits) {
  if (!Number.isInteger(bits) || bits < 1 || bits > 14) throw new Error(`chunker mask bits must be 1..14, not ${bits}`);
  return ((1 << bits) - 1) << 18;
}

/** Cut parameters of one repository: { min, mask }. */
export const DEFAULT_CUT = { min: MIN_CHUNK, mask: MASK };
/** Chunking restarts at every segment: boundaries depend on the content and the segment grid only. */
export const SEGMENT = 8 << 20;

export const GEAR = (() => {
  const g = new Int32Array(256);
  for (let i = 0; i < 256; i++) g[i] = createHash('sha256').update(`quiesce-gear-v1/${i}`).digest().readInt32LE(0);
  // In a zero run the hash settles at -GEAR[0]: it must never cut there (for any mask width).
  if (((-g[0] | 0) & (1 << 18)) === 0) g[0] ^= 1 << 18;
  return g;
})();

const ZERO = Buffer.alloc(MAX_CHUNK);

// The same algorithm in C (native/data-plane.c); the JavaScript below is the reference and the fallback.
if (native) native.setGear(GEAR);
export { native };

/** The next multiple of MAX_CHUNK (absolute disk offset) after `start`, as a buffer position. */
function nextGrid(base, start) {
  return (Math.floor((base + start) / MAX_CHUNK) + 1) * MAX_CHUNK - base;
}

/**
 * A chunk that reached MAX_CHUNK without a cut and ends in zeros is cut at the first grid point at
 * least 64 bytes into its zero tail: the zero run that follows is then cut on the grid, and an edit
 * before free space resyncs within one grid step.
 */
function zeroTailCut(buf, start, lim, base, min) {
  let z = lim;
  while (z > start && buf[z - 1] === 0) z--;
  const from = Math.max(z + 64, start + min);
  const g = Math.ceil((base + from) / MAX_CHUNK) * MAX_CHUNK - base;
  return g < lim ? g : lim;
}

/**
 * Cuts `buf[0, len)` (which starts at disk offset `base`) into chunks. Returns their lengths; when
 * the buffer does not end at a real boundary (`final` false) the last piece is dropped (it would
 * have been cut by the buffer's end).
 */
export function chunkLengths(buf, len, final, base = 0, cut = DEFAULT_CUT) {
  if (native) return Array.from(native.chunk(buf, len, final, base, cut.min, MAX_CHUNK, cut.mask));
  return chunkLengthsJs(buf, len, final, base, cut);
}

/**
 * The cuts of `chunkLengths` with each chunk's SHA-256 (zero chunks flagged, no id), computed by
 * the native addon right after each cut; null without the addon.
 */
export function chunkNamed(buf, len, final, base = 0, cut = DEFAULT_CUT) {
  if (!native) return null;
  const [lengths, zero, ids] = native.chunkNamed(buf, len, final, base, cut.min, MAX_CHUNK, cut.mask);
  return { lengths: Array.from(lengths), zero, ids: Buffer.from(ids.buffer, ids.byteOffset, ids.length) };
}

/** The reference implementation. */
export function chunkLengthsJs(buf, len, final, base = 0, { min, mask } = DEFAULT_CUT) {
  const out = [];
  let start = 0;
  while (start < len) {
    const grid = nextGrid(base, start);
    const zEnd = Math.min(grid, len);
    if (buf.compare(ZERO, 0, zEnd - start, start, zEnd) === 0) {
      if (zEnd < grid && !final) break;
      out.push(zEnd - start);
      start = zEnd;
      continue;
    }
    const lim = Math.min(len, start + MAX_CHUNK);
    let i = start + min;
    let cut = -1;
    if (i < lim) {
      let h = 0;
      for (; i < lim; i++) {
        h = ((h << 1) + GEAR[buf[i]]) | 0;
        if ((h & mask) === 0) {
          cut = i + 1;
          break;
        }
      }
    }
    if (cut < 0) {
      if (lim - start === MAX_CHUNK) cut = zeroTailCut(buf, start, lim, base, min);
      else if (final) cut = len;
      else break;
    }
    out.push(cut - start);
    start = cut;
  }
  return out;
}

/**
 * Re-chunks a window that starts at an old boundary: cuts like `chunkLengths`, and stops at the
 * first cut at or after `resyncAfter` that falls on one of the old `boundaries` (relative, sorted):
 * from there on the old chunks are what a full re-chunking would produce. Returns the lengths up
 * to that cut and whether it was found (else the window must grow).
 */
export function rechunkLengths(buf, len, final, boundaries, resyncAfter, base = 0, cut = DEFAULT_CUT) {
  const all = chunkLengths(buf, len, final, base, cut);
  const out = [];
  let pos = 0;
  let bi = 0;
  for (const l of all) {
    out.push(l);
    pos += l;
    if (pos < resyncAfter) continue;
    while (bi < boundaries.length && boundaries[bi] < pos) bi++;
    if ((bi < boundaries.length && boundaries[bi] === pos) || (final && pos === len)) return { lengths: out, resynced: true };
  }
  return { lengths: out, resynced: final };
}
