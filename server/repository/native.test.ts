import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from './native.mjs';

describe('native mapped reads', () => {
  it('maps a file range read-only with the bytes a read gives; unmapping empties every view at once', async () => {
    if (!native) {
      expect(process.env.CI).toBeFalsy();
      return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-map-'));
    const file = path.join(dir, 'disk.raw');
    const bytes = randomBytes(3 << 20);
    fs.writeFileSync(file, bytes);
    const fd = fs.openSync(file, 'r');
    try {
      const ab: ArrayBuffer = await native.mapRange(fd, 1 << 20, 2 << 20);
      const view = Buffer.from(ab);
      expect(view.equals(bytes.subarray(1 << 20, 3 << 20))).toBe(true);
      const part = view.subarray(100, 200);
      native.unmapRange(ab);
      expect([ab.byteLength, view.length, part.length]).toEqual([0, 0, 0]);
      // Twice is nothing; a buffer that was never mapped is refused.
      native.unmapRange(ab);
      expect(() => native.unmapRange(new ArrayBuffer(8))).toThrow(/not an ArrayBuffer from mapRange/);
      expect(() => native.mapRange(fd, 100, 4096)).toThrow(/multiple of the page size/);
      await expect(native.mapRange(12345, 0, 4096)).rejects.toThrow(/mapping of 4096 bytes at 0 failed/);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('native allocator setting', () => {
  it('shares malloc arenas across threads (what the CLI asks at start); a count below 1 is refused', () => {
    if (!native) {
      expect(process.env.CI).toBeFalsy();
      return;
    }
    expect(() => native.shareMallocArenas(0)).toThrow(/at least 1/);
    expect(() => native.shareMallocArenas('two')).toThrow(/at least 1/);
    // Generous here (the test process keeps its threads' arenas; new threads share these).
    expect(native.shareMallocArenas(64)).toBe(true);
  });
});
