import { describe, expect, it } from 'vitest';
import { isTerminal, transition } from './state';

describe('job state transitions', () => {
  it('leases a queued or retrying job into running', () => {
    expect(transition('queued', { type: 'leased', recovered: false })).toBe('running');
    expect(transition('retrying', { type: 'leased', recovered: false })).toBe('running');
  });
  it('keeps a recovered job in the phase it was in', () => {
    expect(transition('running', { type: 'leased', recovered: true })).toBe('running');
    expect(transition('compensating', { type: 'leased', recovered: true })).toBe('compensating');
  });
  it('never moves a finished job', () => {
    for (const s of ['succeeded', 'failed', 'cancelled'] as const) {
      expect(isTerminal(s)).toBe(true);
      expect(() => transition(s, { type: 'leased', recovered: true })).toThrow(/invalid job transition/);
      expect(() => transition(s, { type: 'allStepsCompleted' })).toThrow();
    }
  });
  it('ends a compensation as failed or cancelled by its cause', () => {
    expect(transition('compensating', { type: 'compensationFinished', cause: 'failure' })).toBe('failed');
    expect(transition('compensating', { type: 'compensationFinished', cause: 'cancel' })).toBe('cancelled');
  });
  it('cancels a queued job at once and a running one through compensation', () => {
    expect(transition('queued', { type: 'cancelRequested' })).toBe('cancelled');
    expect(transition('running', { type: 'cancelRequested' })).toBe('compensating');
  });
  it('a failed step goes to retrying or compensating', () => {
    expect(transition('running', { type: 'stepFailed', retry: true })).toBe('retrying');
    expect(transition('running', { type: 'stepFailed', retry: false })).toBe('compensating');
  });
});
