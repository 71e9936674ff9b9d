import { createCipheriv, createHash } from 'node:crypto';

/** A small seeded PRNG (mulberry32): the chaos harness's choices replay for the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}


/** A seeded RNG for one purpose: streams with different tags never correlate. */
export function rngFor(seed: number | string, tag: string): () => number {
  const h = createHash('sha256').update(`quiesce/${seed}/${tag}`).digest();
  return seededRandom(h.readUInt32LE(0));
}

/**
 * Deterministic bytes (AES-128-CTR keystream keyed by seed and tag): fast, incompressible,
 * the same for the same arguments.
 */
export function seededBytes(seed: number | string, tag: string, length: number): Buffer {
  const k = createHash('sha256').update(`quiesce-bytes/${seed}/${tag}`).digest();
  const c = createCipheriv('aes-128-ctr', k.subarray(0, 16), k.subarray(16, 32));
  const out = Buffer.allocUnsafe(length);
  const zeros = Buffer.alloc(Math.min(length, 1 << 20));
  for (let o = 0; o < length; o += zeros.length) {
    const n = Math.min(zeros.length, length - o);
    c.update(zeros.subarray(0, n)).copy(out, o);
  }
  return out;
}

export function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)]!;
}

/** A deterministic UUID (v4 layout) from a seed and a name. */
export function seededUuid(seed: number | string, name: string): string {
  const h = createHash('sha256').update(`uuid/${seed}/${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
