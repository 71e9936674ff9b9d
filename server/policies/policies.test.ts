import { describe, expect, it } from 'vitest';
import { CreatePolicyInput } from './schemas';
import { cronError, nextRun } from './schedule';
import { matchesSelection } from './selection';

const vm = { name: 'web-01', folder: '/prod/web', tags: ['tier1'], isProxy: false };
const none = { names: [], folders: [], tags: [], namePattern: null };

describe('VM selection', () => {
  it('matches by name, folder (and subfolders), tag and glob pattern', () => {
    expect(matchesSelection(vm, { ...none, names: ['WEB-01'] })).toBe(true);
    expect(matchesSelection(vm, { ...none, folders: ['/prod'] })).toBe(true);
    expect(matchesSelection(vm, { ...none, folders: ['/pro'] })).toBe(false);
    expect(matchesSelection(vm, { ...none, tags: ['tier1'] })).toBe(true);
    expect(matchesSelection(vm, { ...none, namePattern: 'web-*' })).toBe(true);
    expect(matchesSelection(vm, { ...none, namePattern: 'db-?' })).toBe(false);
  });
  it('never selects a proxy', () => {
    expect(matchesSelection({ ...vm, isProxy: true }, { ...none, namePattern: '*' })).toBe(false);
  });
});

describe('schedules', () => {
  it('accepts 5-field cron and computes the next run', () => {
    expect(cronError('0 */4 * * *')).toBeNull();
    expect(nextRun('0 * * * *', 'UTC', Date.parse('2026-01-01T10:30:00Z'))).toBe(Date.parse('2026-01-01T11:00:00Z'));
  });
  it('explains a bad schedule', () => {
    expect(cronError('every hour')).toMatch(/5 fields/);
    expect(cronError('61 * * * *')).toMatch(/cron/);
  });
});

describe('policy input', () => {
  const valid = { name: 'p', schedule: '0 * * * *', selection: { namePattern: '*' }, storageUnitId: '9b2f8f3e-6a55-4a7e-9f55-0d5f0a1b2c3d' };
  it('fills defaults that protect production', () => {
    const p = CreatePolicyInput.parse(valid);
    expect(p.settings.transportOrder).toEqual(['directsan', 'hotadd', 'nbd']);
    expect(p.settings.quiesce).toBe('preferred');
  });
  it('puts errors next to the field', () => {
    const r = CreatePolicyInput.safeParse({ ...valid, schedule: 'nope', selection: {}, timezone: 'Mars/Olympus' });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['schedule', 'selection.namePattern', 'timezone']));
  });
});
