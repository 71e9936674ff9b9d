import { describe, expect, it } from 'vitest';
import { ImageDigest, DIGEST_BLOCK, digestOf } from './image-digest';

describe('image digest', () => {
  const img = Buffer.alloc(3 * DIGEST_BLOCK + 12345);
  img.write('hello', 10);
  img.write('world', 2 * DIGEST_BLOCK + 99);

  it('is the same however the image is fed, zeros by the fast path or as bytes', () => {
    const whole = digestOf(img);
    const pieces = new ImageDigest().update(img.subarray(0, 7)).update(img.subarray(7, DIGEST_BLOCK)).zeros(DIGEST_BLOCK).update(img.subarray(2 * DIGEST_BLOCK)).digest();
    expect(pieces).toBe(whole);
    const oddZeros = new ImageDigest().update(img.subarray(0, DIGEST_BLOCK + 5)).zeros(DIGEST_BLOCK - 5).update(img.subarray(2 * DIGEST_BLOCK)).digest();
    expect(oddZeros).toBe(whole);
  });

  it('changes with a single flipped byte and with the length', () => {
    const other = Buffer.from(img);
    other[DIGEST_BLOCK + 17] = 1;
    expect(digestOf(other)).not.toBe(digestOf(img));
    expect(digestOf(img.subarray(0, img.length - 1))).not.toBe(digestOf(img));
  });
});
