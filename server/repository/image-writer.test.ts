import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alignedOffset, openImageWriter } from './image-writer';
import { native } from './native.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quiesce-image-writer-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('image writer', () => {
  it('writes runs at any offset, holes and short zero runs byte for byte; aligned runs go out in place, others are staged', async () => {
    // Runs of data (some laid out for in-place writes, some not), short zero runs and holes, at unaligned offsets.
    const plan: Array<{ kind: 'aligned' | 'plain' | 'zeros'; length: number }> = [
      { kind: 'plain', length: 1_000 },
      { kind: 'aligned', length: 300_001 },
      { kind: 'zeros', length: 5_000 },
      { kind: 'aligned', length: 1_000_000 },
      { kind: 'aligned', length: 70_000 },
      { kind: 'zeros', length: 200_000 },
      { kind: 'plain', length: 90_000 },
      { kind: 'aligned', length: 2_500_123 },
      { kind: 'zeros', length: 3_000 },
    ];
    const size = plan.reduce((a, p) => a + p.length, 0) + 12_345;
    const want = Buffer.alloc(size);
    const file = path.join(dir, 'img.raw');
    const w = await openImageWriter(file);
    let pos = 0;
    let released = 0;
    let puts = 0;
    for (const p of plan) {
      if (p.kind === 'zeros') await w.put(null, p.length);
      else {
        const ab = new ArrayBuffer(p.length + 8192);
        const at = p.kind === 'aligned' ? alignedOffset(ab, 100, pos) : 100 + (pos % 2 ? 0 : 1);
        const data = Buffer.from(ab, at, p.length);
        randomBytes(p.length).copy(data);
        data.copy(want, pos);
        puts++;
        await w.put(data, p.length, () => released++);
      }
      pos += p.length;
    }
    await w.finish(size);
    expect(fs.statSync(file).size).toBe(size);
    expect(fs.readFileSync(file).equals(want)).toBe(true);
    expect(released).toBe(puts);
    // Where the addon and O_DIRECT are there (CI), the aligned runs' whole blocks were not copied.
    if (native?.alignmentOf) expect(w.inPlaceBytes).toBeGreaterThan(3_500_000);
    else expect(process.env.CI).toBeFalsy();
  });
});
