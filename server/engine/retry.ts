import { isDomainError } from '@/server/errors';
import { isConnectorError } from '@/server/connectors/types';

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  factor: number;
  maxDelayMs: number;
  /** 0..1: share of the delay that is randomised. */
  jitter: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 2_000, factor: 2, maxDelayMs: 60_000, jitter: 0.2 };

/** An error that retrying cannot fix (bad input, a failed precondition, a refused quiesce…). */
export class NonRetryableError extends Error {
  readonly code: string;
  constructor(message: string, code = 'FAILED', opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'NonRetryableError';
    this.code = code;
  }
}

/** The step was aborted: cancellation, shutdown, or a lost lease. Never retried by the step loop. */
export class StepAbortedError extends Error {
  readonly reason: 'cancel' | 'shutdown' | 'lease-lost' | 'crash';
  constructor(reason: StepAbortedError['reason']) {
    super(`step aborted: ${reason}`);
    this.name = 'StepAbortedError';
    this.reason = reason;
  }
}

/**
 * The step cannot proceed yet (a resource limit is reached). The job gives its runner slot back and
 * is taken again after `delayMs`; this is not a failure and uses no retry attempt.
 */
export class ResourceWaitError extends Error {
  readonly reason: string;
  readonly delayMs: number;
  constructor(reason: string, delayMs: number) {
    super(`waiting: ${reason}`);
    this.name = 'ResourceWaitError';
    this.reason = reason;
    this.delayMs = delayMs;
  }
}

const NON_RETRYABLE_CONNECTOR = new Set(['NOT_FOUND', 'INVALID_ARGUMENT', 'QUIESCE_FAILED', 'CONFIRMATION_REQUIRED', 'CHANGE_ID_INVALID']);

export function isRetryable(error: unknown): boolean {
  if (error instanceof NonRetryableError || error instanceof StepAbortedError || error instanceof ResourceWaitError) return false;
  if (isDomainError(error)) return error.code === 'INTERNAL' || error.code === 'CONFLICT' || error.code === 'LIMIT_EXCEEDED';
  if (isConnectorError(error)) return !NON_RETRYABLE_CONNECTOR.has(error.code);
  return true;
}

export type RetryDecision = { outcome: 'retry'; delayMs: number } | { outcome: 'fail' };

/** `attempt` is the number of the attempt that just failed (1 = first). */
export function decideRetry(policy: RetryPolicy, attempt: number, error: unknown, random: () => number = Math.random): RetryDecision {
  if (!isRetryable(error) || attempt >= policy.maxAttempts) return { outcome: 'fail' };
  const base = Math.min(policy.maxDelayMs, policy.baseDelayMs * policy.factor ** (attempt - 1));
  const spread = base * policy.jitter;
  const delayMs = Math.round(base - spread + random() * 2 * spread);
  return { outcome: 'retry', delayMs: Math.max(0, delayMs) };
}

export function errorCodeOf(error: unknown): string {
  if (error instanceof NonRetryableError) return error.code;
  if (error instanceof StepAbortedError) return error.reason === 'cancel' ? 'CANCELLED' : 'ABORTED';
  if (isDomainError(error) || isConnectorError(error)) return error.code;
  return 'INTERNAL';
}
