import { describe, expect, it } from 'vitest';
import { ConnectorError } from '@/server/connectors/types';
import { NotFoundError } from '@/server/errors';
import { decideRetry, DEFAULT_RETRY, NonRetryableError, StepAbortedError } from './retry';

describe('decideRetry', () => {
  const policy = { ...DEFAULT_RETRY, baseDelayMs: 1000, factor: 2, maxDelayMs: 5000, jitter: 0 };
  it('backs off exponentially up to the maximum', () => {
    expect(decideRetry({ ...policy, maxAttempts: 10 }, 1, new Error('x'))).toEqual({ outcome: 'retry', delayMs: 1000 });
    expect(decideRetry({ ...policy, maxAttempts: 10 }, 2, new Error('x'))).toEqual({ outcome: 'retry', delayMs: 2000 });
    expect(decideRetry({ ...policy, maxAttempts: 10 }, 5, new Error('x'))).toEqual({ outcome: 'retry', delayMs: 5000 });
  });
  it('stops after maxAttempts', () => {
    expect(decideRetry({ ...policy, maxAttempts: 3 }, 3, new Error('x'))).toEqual({ outcome: 'fail' });
  });
  it('never retries what retrying cannot fix', () => {
    expect(decideRetry(policy, 1, new NonRetryableError('no'))).toEqual({ outcome: 'fail' });
    expect(decideRetry(policy, 1, new StepAbortedError('cancel'))).toEqual({ outcome: 'fail' });
    expect(decideRetry(policy, 1, new NotFoundError('VM', 'x'))).toEqual({ outcome: 'fail' });
    expect(decideRetry(policy, 1, new ConnectorError('QUIESCE_FAILED', 'vss'))).toEqual({ outcome: 'fail' });
    expect(decideRetry(policy, 1, new ConnectorError('TIMEOUT', 'slow')).outcome).toBe('retry');
  });
  it('spreads delays with jitter inside the band', () => {
    const p = { ...policy, jitter: 0.5, maxAttempts: 5 };
    expect(decideRetry(p, 1, new Error('x'), () => 0)).toEqual({ outcome: 'retry', delayMs: 500 });
    expect(decideRetry(p, 1, new Error('x'), () => 1)).toEqual({ outcome: 'retry', delayMs: 1500 });
  });
});
