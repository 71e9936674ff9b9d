import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readFileShared } from './files';
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
});
