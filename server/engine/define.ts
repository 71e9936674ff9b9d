import type { z } from 'zod';
import type { JobProgress } from '@/db/schema/jobs';
import type { Queryable } from '@/db/client';
import type { ServiceContext, ServiceDeps } from '@/server/context';
import type { Clock } from '@/server/lib/clock';
import type { Logger } from '@/server/lib/logger';
import type { RetryPolicy } from './retry';

export type StepResult = Record<string, unknown>;
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface StepContext<I> {
  jobId: string;
  jobType: string;
  input: I;
  /** Results of the steps completed so far (memoised across crashes). */
  results: Readonly<Record<string, StepResult>>;
  /** Idempotency key for connector calls of this step: `${jobId}:${step}`. */
  idempotencyKey: string;
  attempt: number;
  /** True when this job was taken over from a worker that died. */
  recovered: boolean;
  signal: AbortSignal;
  clock: Clock;
  logger: Logger;
  db: Queryable;
  deps: ServiceDeps;
  /** A service context acting as the engine, for calling domain functions. */
  service: ServiceContext;
  /** Appends to the job's log (shown on the job page) and to the process log. */
  log(level: LogLevel, message: string, data?: Record<string, unknown>): Promise<void>;
  /** Live progress (throttled to the database). */
  progress(p: JobProgress): void;
  /** Why the job waits (resource limits…), or null when it no longer waits. */
  waiting(reason: string | null): Promise<void>;
}

export interface StepDefinition<I> {
  name: string;
  run(ctx: StepContext<I>): Promise<StepResult | void>;
  /** Undo the step's effect. `result` is null when the step started but did not complete. */
  compensate?(ctx: StepContext<I>, result: StepResult | null): Promise<StepResult | void>;
  /** Compensate even when the step did not complete: its effect may exist without being recorded. */
  compensateIfStarted?: boolean;
  retry?: Partial<RetryPolicy>;
}

export interface JobDefinition<I> {
  type: string;
  version: string;
  input: z.ZodType<I>;
  steps: readonly StepDefinition<I>[];
  /** Builds the job's result from the steps' results. */
  result?(results: Readonly<Record<string, StepResult>>, input: I): StepResult;
  /** What to do with a job whose worker died mid-run: continue from the first unfinished step, or undo. */
  onRecovery?: 'resume' | 'compensate';
  /** Default job-level facts stored on the row (for filters). */
  describe?(input: I): { vmId?: string; vmName?: string; policyId?: string; storageUnitId?: string };
}

export function defineStep<I>(def: StepDefinition<I>): StepDefinition<I> {
  return def;
}

export function defineJob<I>(def: JobDefinition<I>): JobDefinition<I> {
  const names = new Set<string>();
  for (const s of def.steps) {
    if (names.has(s.name)) throw new Error(`job ${def.type}: duplicate step ${s.name}`);
    names.add(s.name);
  }
  return def;
}

/** A step's stored result, typed by the caller. Throws when the step has not completed. */
export function stepResult<T>(results: Readonly<Record<string, StepResult>>, name: string): T {
  const r = results[name];
  if (r === undefined) throw new Error(`step ${name} has no result yet`);
  return r as T;
}

export interface JobRegistry {
  get(type: string): JobDefinition<unknown> | undefined;
  types(): string[];
}

export function createJobRegistry(defs: ReadonlyArray<JobDefinition<any>>): JobRegistry {
  const map = new Map<string, JobDefinition<unknown>>();
  for (const d of defs) map.set(d.type, d as JobDefinition<unknown>);
  return { get: (t) => map.get(t), types: () => [...map.keys()] };
}

export type { JobProgress };
export type EngineDeps = ServiceDeps;
