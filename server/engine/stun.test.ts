import { describe, expect, it } from 'vitest';
import { predictStun } from './stun';

const MiB = 1024 * 1024;

describe('predictStun', () => {
  it('a quiet guest: one short stunned pass', () => {
    const p = predictStun({ writeBytesPerSec: 64 * 1024, consolidationBytesPerSec: 64 * MiB, stunPassMaxBytes: 16 * MiB, maxPasses: 10 }, 60_000);
    expect(p.passes).toBe(1);
    expect(p.redoBytes).toBe(64 * 1024 * 60);
    expect(p.stunMs).toBe(Math.round(((64 * 1024 * 60) / (64 * MiB)) * 1000));
  });
  it('a busy guest needs more passes, each delta smaller', () => {
    const p = predictStun({ writeBytesPerSec: 16 * MiB, consolidationBytesPerSec: 64 * MiB, stunPassMaxBytes: 8 * MiB, maxPasses: 10 }, 60_000);
    expect(p.passes).toBeGreaterThan(1);
    expect(p.converges).toBe(true);
    expect(p.stunMs).toBeLessThanOrEqual(125);
  });
  it('a guest writing faster than consolidation ends in a long forced stun', () => {
    const p = predictStun({ writeBytesPerSec: 80 * MiB, consolidationBytesPerSec: 64 * MiB, stunPassMaxBytes: 8 * MiB, maxPasses: 5 }, 60_000);
    expect(p.converges).toBe(false);
    expect(p.passes).toBe(5);
    expect(p.stunMs).toBeGreaterThan(60_000);
  });
});
