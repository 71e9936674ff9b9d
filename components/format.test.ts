import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, formatRate, formatRelative } from './format';

describe('formatting', () => {
  it('sizes in binary units with one decimal', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(1.5 * 1024 ** 3)).toBe('1.5 GiB');
    expect(formatBytes(null)).toBe('—');
  });
  it('rates in MB/s, or GiB/s past a GiB', () => {
    expect(formatRate(250e6)).toBe('250.0 MB/s');
    expect(formatRate(2 * 1024 ** 3)).toBe('2.0 GiB/s');
  });
  it('durations as people say them', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(134_000)).toBe('2 min 14 s');
    expect(formatDuration(3 * 3_600_000 + 5 * 60_000)).toBe('3 h 5 min');
  });
  it('relative times', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(formatRelative(now - 3 * 60_000, now)).toBe('3 min ago');
    expect(formatRelative(now - 2_000, now)).toBe('just now');
    expect(formatRelative(now + 5 * 60_000, now)).toBe('in 5 min');
    expect(formatRelative(now - 2 * 3_600_000 - 60_000, now)).toBe('2 h ago');
  });
});
