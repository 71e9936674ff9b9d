import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Queryable } from '@/db/client';
import type { JobError, JobProgress } from '@/db/schema/jobs';
import type { ServiceContext, ServiceDeps } from '@/server/context';
import type { Clock } from '@/server/lib/clock';
import type { Logger } from '@/server/lib/logger';
import { isProcessAlive } from '@/server/lib/process-alive';
import { errorMessage } from '@/server/errors';
import type { JobDefinition, JobRegistry, StepContext, StepDefinition, StepResult } from './define';
import { DEFAULT_RETRY, ResourceWaitError, StepAbortedError, decideRetry, errorCodeOf, type RetryPolicy } from './retry';
import { transition, type JobStatus } from './state';
import { createJobStore, type JobRow, type JobStore, type LeasedJob, type StepRow } from './store';

export interface RunnerOptions {
  db: Queryable;
  clock: Clock;
  logger: Logger;
  deps: ServiceDeps;
  registry: JobRegistry;
  workerId?: string;
  /** Jobs run at once by this worker. */
  concurrency?: number;
  /** Lease length on the engine's clock; heartbeats renew it every third of it. */
  leaseMs?: number;
  /** Idle poll interval (wall ms are derived from the clock's speed). */
  pollMs?: number;
  /** Only lease these job types (default: every registered type). */
  types?: string[];
  /** When set, only lease these job ids (the local CLI runs just its own jobs). */
  onlyJobIds?: () => string[] | null;
  isProcessAlive?: (pid: number) => boolean;
}

export interface Runner {
  readonly workerId: string;
  start(): Promise<void>;
  /** Stop leasing; let running jobs finish for up to `drainMs`, then abort them and hand them back. */
  stop(opts?: { drainMs?: number }): Promise<void>;
  /** Simulated process death (chaos harness): every in-flight step is abandoned, nothing more is written. */
  crash(): Promise<void>;
  /** Poll now (after an enqueue in this process). */
  wake(): void;
  activeJobIds(): string[];
}

interface ActiveJob {
  id: string;
  controller: AbortController;
  promise: Promise<void>;
  progress: JobProgress | null;
  progressDirty: boolean;
  lastProgressWrite: number;
}

const MAX_RECOVERIES = 5;

function toJobError(e: unknown, step?: string): JobError {
  return { code: errorCodeOf(e), message: errorMessage(e), ...(step ? { step } : {}) };
}

function abortReasonOf(signal: AbortSignal): StepAbortedError | null {
  return signal.aborted && signal.reason instanceof StepAbortedError ? signal.reason : null;
}

/** The lease loop: takes jobs with FOR UPDATE SKIP LOCKED, runs their steps as a saga, heartbeats, recovers. */
export function createRunner(opts: RunnerOptions): Runner {
  const workerId = opts.workerId ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const clock = opts.clock;
  const concurrency = opts.concurrency ?? 3;
  const leaseMs = opts.leaseMs ?? 30_000;
  const pollMs = opts.pollMs ?? 1_000;
  const types = opts.types ?? opts.registry.types();
  const isAlive = opts.isProcessAlive ?? isProcessAlive;
  const logger = opts.logger.child({ component: 'engine', workerId });

  let dead = false;
  let stopping = false;
  let started = false;
  let loopPromise: Promise<void> | null = null;
  let heartbeatTimer: NodeJS.Timeout | null = null;
  let wakeController = new AbortController();
  const active = new Map<string, ActiveJob>();

  // Every write goes through this store; after crash() it refuses, like a dead process would.
  const realStore = createJobStore(opts.db, workerId);
  const store: JobStore = new Proxy(realStore, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (dead) return Promise.reject(new StepAbortedError('crash'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });

  const wallMs = (labMs: number) => Math.max(10, labMs / clock.speed);

  async function loop(): Promise<void> {
    while (!stopping && !dead) {
      try {
        while (active.size < concurrency && !stopping && !dead) {
          const only = opts.onlyJobIds?.() ?? null;
          const leased = await store.leaseNext({ now: clock.now(), leaseMs, types, onlyJobIds: only, excludeJobIds: [...active.keys()] });
          if (!leased) break;
          launch(leased);
        }
      } catch (e) {
        if (!dead) logger.error({ err: e }, 'lease loop error');
      }
      if (stopping || dead) break;
      await new Promise<void>((resolve) => {
        const signal = wakeController.signal;
        const onWake = () => {
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          signal.removeEventListener('abort', onWake);
          resolve();
        }, wallMs(pollMs));
        signal.addEventListener('abort', onWake, { once: true });
      });
      if (wakeController.signal.aborted) wakeController = new AbortController();
    }
  }

  function launch(leased: LeasedJob): void {
    const controller = new AbortController();
    const entry: ActiveJob = {
      id: leased.job.id,
      controller,
      progress: leased.job.progress ?? null,
      progressDirty: false,
      lastProgressWrite: 0,
      promise: Promise.resolve(),
    };
    active.set(entry.id, entry);
    entry.promise = execute(leased, entry)
      .catch((e) => {
        if (!dead) logger.error({ err: e, jobId: entry.id }, 'job execution crashed');
      })
      .finally(() => {
        active.delete(entry.id);
        wakeController.abort();
      });
  }

  async function heartbeatAll(): Promise<void> {
    if (dead) return;
    const now = clock.now();
    try {
      await store.workerHeartbeat(now);
    } catch {
      /* reported below per job */
    }
    for (const a of active.values()) {
      if (a.controller.signal.aborted) continue;
      try {
        const hb = await store.heartbeat(a.id, now, leaseMs, a.progressDirty ? (a.progress ?? undefined) : undefined);
        a.progressDirty = false;
        if (!hb) {
          logger.warn({ jobId: a.id }, 'lease lost; abandoning job');
          a.controller.abort(new StepAbortedError('lease-lost'));
        } else if (hb.cancelRequested) {
          a.controller.abort(new StepAbortedError('cancel'));
        }
      } catch (e) {
        if (!dead) logger.warn({ err: e, jobId: a.id }, 'heartbeat failed');
      }
    }
  }

  async function execute(leased: LeasedJob, entry: ActiveJob): Promise<void> {
    const job = leased.job;
    const jlog = logger.child({ jobId: job.id, jobType: job.type });
    const def = opts.registry.get(job.type);
    if (!def) {
      await store.setStatus(job.id, 'failed', clock.now(), { error: { code: 'UNKNOWN_JOB_TYPE', message: `no job definition for type ${job.type}` } });
      return;
    }
    const parsed = def.input.safeParse(job.input);
    if (!parsed.success) {
      await store.setStatus(job.id, 'failed', clock.now(), {
        error: { code: 'VALIDATION', message: `invalid job input: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` },
      });
      return;
    }
    const input = parsed.data;
    const steps = await store.loadSteps(job.id);
    const results: Record<string, StepResult> = {};
    for (const s of steps) if (s.phase === 'run' && s.status === 'completed') results[s.name] = s.result ?? {};

    if (leased.recovered) {
      jlog.warn({ previousWorker: leased.previousWorker, status: job.status }, 'recovering job left by a dead worker');
      await store.log(job.id, clock.now(), 'warn', `Recovered after the engine process ${leased.previousWorker ?? '(unknown)'} died`, null, {
        previousWorker: leased.previousWorker,
        status: job.status,
      });
    }
    let status: JobStatus = transition(leased.previousStatus, { type: 'leased', recovered: leased.recovered });

    const service: ServiceContext = {
      actor: { kind: 'system', component: 'engine', jobId: job.id },
      db: opts.db,
      logger: jlog,
      requestId: job.id,
      clock,
      deps: opts.deps,
    };

    const makeCtx = (step: StepDefinition<unknown>, attempt: number): StepContext<unknown> => ({
      jobId: job.id,
      jobType: job.type,
      input,
      results,
      idempotencyKey: `${job.id}:${step.name}`,
      attempt,
      recovered: leased.recovered,
      signal: entry.controller.signal,
      clock,
      logger: jlog.child({ step: step.name }),
      db: opts.db,
      deps: opts.deps,
      service,
      log: async (level, message, data) => {
        jlog[level]({ step: step.name, ...data }, message);
        await store.log(job.id, clock.now(), level, message, step.name, data);
      },
      progress: (p) => {
        entry.progress = { ...entry.progress, ...p, at: clock.now() };
        entry.progressDirty = true;
        // Live progress for the dashboard: at most one write per second of wall time per job.
        const wallNow = Date.now();
        if (wallNow - entry.lastProgressWrite >= 1_000 && !dead) {
          entry.lastProgressWrite = wallNow;
          entry.progressDirty = false;
          store.saveProgress(job.id, entry.progress).catch(() => undefined);
        }
      },
      waiting: async (reason) => {
        await store.setWaiting(job.id, reason);
      },
    });

    // A job that keeps killing its workers is undone rather than resumed forever.
    const tooManyRecoveries = leased.recovered && job.recoveries > MAX_RECOVERIES;
    const shouldCompensate = status === 'compensating' || (leased.recovered && (def.onRecovery === 'compensate' || tooManyRecoveries));
    if (shouldCompensate) {
      if (status !== 'compensating') {
        status = 'compensating';
        await store.setStatus(job.id, status, clock.now());
      }
      const cause = job.cancelRequestedAt ? 'cancel' : 'failure';
      await compensate(def, steps, makeCtx, job, cause, job.error ?? { code: 'RECOVERED', message: 'the engine process running this job died' });
      return;
    }

    for (let i = 0; i < def.steps.length; i++) {
      const step = def.steps[i]!;
      if (results[step.name] !== undefined) continue;
      const abort = abortReasonOf(entry.controller.signal);
      if (abort) {
        await onAbort(abort, def, job, makeCtx);
        return;
      }
      const prior = steps.find((s) => s.name === step.name && s.phase === 'run');
      let attempt = (prior?.attempt ?? 0) + 1;
      const policy: RetryPolicy = { ...DEFAULT_RETRY, ...step.retry };
      for (;;) {
        await store.stepStarted(job.id, i, step.name, 'run', attempt, clock.now());
        try {
          const r = (await step.run(makeCtx(step as StepDefinition<unknown>, attempt))) ?? {};
          // A step that returned after its job was aborted must not be recorded as done by a dead worker.
          const abortedAfter = abortReasonOf(entry.controller.signal);
          if (abortedAfter && abortedAfter.reason !== 'cancel') return;
          results[step.name] = r;
          await store.stepFinished(job.id, step.name, 'run', clock.now(), { status: 'completed', result: r });
          break;
        } catch (e) {
          const abortedBy = abortReasonOf(entry.controller.signal) ?? (e instanceof StepAbortedError ? e : null);
          if (abortedBy) {
            if (abortedBy.reason === 'cancel') {
              await store.stepFinished(job.id, step.name, 'run', clock.now(), { status: 'failed', error: { code: 'CANCELLED', message: 'cancelled' } });
            }
            await onAbort(abortedBy, def, job, makeCtx);
            return;
          }
          if (e instanceof ResourceWaitError) {
            await store.stepFinished(job.id, step.name, 'run', clock.now(), { status: 'skipped', error: { code: 'WAITING', message: e.reason } });
            await store.requeueWaiting(job.id, clock.now(), clock.now() + e.delayMs, e.reason);
            return;
          }
          const decision = decideRetry(policy, attempt, e);
          await store.stepFinished(job.id, step.name, 'run', clock.now(), { status: 'failed', error: toJobError(e, step.name) });
          if (decision.outcome === 'retry') {
            await store.log(job.id, clock.now(), 'warn', `Step ${step.name} failed (attempt ${attempt}): ${errorMessage(e)}; retrying in ${Math.round(decision.delayMs / 1000)} s`, step.name);
            try {
              await clock.sleep(decision.delayMs, entry.controller.signal);
            } catch {
              const r = abortReasonOf(entry.controller.signal);
              if (r) {
                await onAbort(r, def, job, makeCtx);
                return;
              }
            }
            attempt++;
            continue;
          }
          jlog.warn({ err: e, step: step.name }, 'step failed');
          await store.log(job.id, clock.now(), 'error', `Step ${step.name} failed: ${errorMessage(e)}`, step.name, { code: errorCodeOf(e) });
          status = transition(status, { type: 'stepFailed', retry: false });
          await store.setStatus(job.id, status, clock.now(), { error: toJobError(e, step.name) });
          await compensate(def, await store.loadSteps(job.id), makeCtx, job, 'failure', toJobError(e, step.name));
          return;
        }
      }
    }
    const result = def.result ? def.result(results, input) : {};
    await store.setStatus(job.id, transition(status, { type: 'allStepsCompleted' }), clock.now(), { result, error: null });
    jlog.info('job succeeded');
  }

  async function onAbort(
    reason: StepAbortedError,
    def: JobDefinition<unknown>,
    job: JobRow,
    makeCtx: (s: StepDefinition<unknown>, attempt: number) => StepContext<unknown>,
  ): Promise<void> {
    if (reason.reason === 'cancel') {
      await store.setStatus(job.id, 'compensating', clock.now(), { error: { code: 'CANCELLED', message: 'cancelled by request' } });
      await compensate(def, await store.loadSteps(job.id), makeCtx, job, 'cancel', { code: 'CANCELLED', message: 'cancelled by request' });
      return;
    }
    if (reason.reason === 'shutdown') {
      // Hand the job back: the next engine process resumes it.
      await store.release(job.id, clock.now(), { status: 'running' });
    }
    // lease-lost and crash: another worker owns the job now, or nobody writes anything.
  }

  async function compensate(
    def: JobDefinition<unknown>,
    steps: StepRow[],
    makeCtx: (s: StepDefinition<unknown>, attempt: number) => StepContext<unknown>,
    job: JobRow,
    cause: 'failure' | 'cancel',
    error: JobError,
  ): Promise<void> {
    const failures: string[] = [];
    for (let i = def.steps.length - 1; i >= 0; i--) {
      const step = def.steps[i]!;
      if (!step.compensate) continue;
      const run = steps.find((s) => s.name === step.name && s.phase === 'run');
      if (!run) continue;
      if (run.status !== 'completed' && !step.compensateIfStarted) continue;
      const done = steps.find((s) => s.name === step.name && s.phase === 'compensate');
      if (done?.status === 'completed') continue;
      let attempt = (done?.attempt ?? 0) + 1;
      for (;;) {
        await store.stepStarted(job.id, i, step.name, 'compensate', attempt, clock.now());
        try {
          const ctx = makeCtx(step as StepDefinition<unknown>, attempt);
          // Compensations must run to the end even when the job was cancelled.
          const r = (await step.compensate({ ...ctx, signal: new AbortController().signal }, run.status === 'completed' ? (run.result ?? {}) : null)) ?? {};
          await store.stepFinished(job.id, step.name, 'compensate', clock.now(), { status: 'completed', result: r });
          await store.log(job.id, clock.now(), 'info', `Compensated ${step.name}`, step.name, r);
          break;
        } catch (e) {
          if (e instanceof StepAbortedError || dead) return;
          await store.stepFinished(job.id, step.name, 'compensate', clock.now(), { status: 'failed', error: toJobError(e, step.name) });
          const decision = decideRetry({ ...DEFAULT_RETRY, maxAttempts: 4 }, attempt, e);
          if (decision.outcome === 'retry') {
            await clock.sleep(decision.delayMs).catch(() => undefined);
            attempt++;
            continue;
          }
          failures.push(step.name);
          logger.error({ err: e, jobId: job.id, step: step.name }, 'compensation failed');
          await store.log(job.id, clock.now(), 'error', `Compensation of ${step.name} failed: ${errorMessage(e)} (the orphan sweep will retry)`, step.name);
          break;
        }
      }
    }
    const final = transition('compensating', { type: 'compensationFinished', cause });
    const finalError = failures.length > 0 ? { ...error, message: `${error.message} (compensation failed for: ${failures.join(', ')})` } : error;
    await store.setStatus(job.id, final, clock.now(), { error: finalError });
  }

  return {
    workerId,
    async start() {
      if (started) return;
      started = true;
      const now = clock.now();
      await realStore.registerWorker(now);
      const expired = await realStore.expireDeadWorkers(now, isAlive);
      if (expired.length > 0) logger.warn({ workers: expired }, 'took over the leases of dead engine workers');
      heartbeatTimer = setInterval(() => void heartbeatAll(), wallMs(leaseMs / 3));
      heartbeatTimer.unref?.();
      loopPromise = loop();
    },
    async stop(stopOpts = {}) {
      if (!started || stopping) return;
      stopping = true;
      wakeController.abort();
      await loopPromise;
      const drainMs = stopOpts.drainMs ?? 10_000;
      const all = Promise.allSettled([...active.values()].map((a) => a.promise));
      const timeout = new Promise((r) => setTimeout(r, drainMs));
      await Promise.race([all, timeout]);
      for (const a of active.values()) a.controller.abort(new StepAbortedError('shutdown'));
      await Promise.allSettled([...active.values()].map((a) => a.promise));
      if (heartbeatTimer) clearInterval(heartbeatTimer);
      if (!dead) await realStore.workerStopped(clock.now()).catch(() => undefined);
    },
    async crash() {
      dead = true;
      stopping = true;
      if (heartbeatTimer) clearInterval(heartbeatTimer);
      wakeController.abort();
      for (const a of active.values()) a.controller.abort(new StepAbortedError('crash'));
      await Promise.allSettled([loopPromise, ...[...active.values()].map((a) => a.promise)]);
    },
    wake() {
      wakeController.abort();
    },
    activeJobIds: () => [...active.keys()],
  };
}
