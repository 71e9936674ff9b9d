import { createHash, type Hash } from 'node:crypto';

/**
 * The fingerprint of a disk image used to prove a restore byte-exact: SHA-256 over the SHA-256 of
 * each 1 MiB block of the image (the last block may be shorter). Equal images give equal digests;
 * a single changed byte changes it. Runs of zeros aligned to blocks cost nothing to hash, which makes
 * mostly-empty disks cheap to check on both sides (the lab's oracle and the restore).
 */
export const DIGEST_BLOCK = 1 << 20;
const ZERO = Buffer.alloc(DIGEST_BLOCK);
const ZERO_BLOCK_DIGEST = createHash('sha256').update(ZERO).digest();

export class ImageDigest {
  private readonly outer = createHash('sha256');
  private inner: Hash = createHash('sha256');
  private fill = 0;
  private total = 0;

  get length(): number {
    return this.total;
  }

  update(data: Uint8Array): this {
    let o = 0;
    while (o < data.length) {
      const n = Math.min(DIGEST_BLOCK - this.fill, data.length - o);
      this.inner.update(data.subarray(o, o + n));
      this.fill += n;
      o += n;
      if (this.fill === DIGEST_BLOCK) this.flushBlock();
    }
    this.total += data.length;
    return this;
  }

  zeros(length: number): this {
    let left = length;
    while (left > 0) {
      if (this.fill === 0 && left >= DIGEST_BLOCK) {
        this.outer.update(ZERO_BLOCK_DIGEST);
        left -= DIGEST_BLOCK;
        this.total += DIGEST_BLOCK;
        continue;
      }
      const n = Math.min(DIGEST_BLOCK - this.fill, left);
      this.update(ZERO.subarray(0, n));
      left -= n;
    }
    return this;
  }

  private flushBlock(): void {
    this.outer.update(this.inner.digest());
    this.inner = createHash('sha256');
    this.fill = 0;
  }

  digest(): string {
    if (this.fill > 0) this.flushBlock();
    return this.outer.digest('hex');
  }
}

export function digestOf(data: Uint8Array): string {
  return new ImageDigest().update(data).digest();
}
