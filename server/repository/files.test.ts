import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readFileShared, writeFileAtomic } from './files';
import { native } from './native.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-files-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('readFileShared', () => {
  it('gives a big file as a mapping of its bytes; release empties it at once', async () => {
    const file = path.join(dir, 'big.qpt');
    const bytes = randomBytes((1 << 20) + 123);
    fs.writeFileSync(file, bytes);
    const { buf, release } = await readFileShared(file);
    expect(buf.equals(bytes)).toBe(true);
    release();
    // Mapped (the native addon is built wherever CI runs): the bytes are gone, not copied.
    if (native) expect(buf.length).toBe(0);
    else expect(process.env.CI).toBeFalsy();
  });

  it('reads small and empty files; a missing one is an error', async () => {
    const small = path.join(dir, 'small.idx');
    fs.writeFileSync(small, 'abc');
    const empty = path.join(dir, 'empty.idx');
    fs.writeFileSync(empty, '');
    const s = await readFileShared(small);
    expect(s.buf.toString()).toBe('abc');
    s.release();
    expect(s.buf.toString()).toBe('abc');
    expect((await readFileShared(empty)).buf.length).toBe(0);
    await expect(readFileShared(path.join(dir, 'missing.idx'))).rejects.toThrow(/ENOENT/);
  });

  it('writes a file from thousands of pieces (gathered writes), empty ones included, byte for byte', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-pieces-'));
    try {
      const pieces = Array.from({ length: 2500 }, (_, i) => (i % 7 === 0 ? Buffer.alloc(0) : randomBytes(1 + (i % 300))));
      const file = path.join(dir, 'm.qpt');
      await writeFileAtomic(file, pieces);
      expect(fs.readFileSync(file).equals(Buffer.concat(pieces))).toBe(true);
      expect(fs.readdirSync(dir)).toEqual(['m.qpt']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
