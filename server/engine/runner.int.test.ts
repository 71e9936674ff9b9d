import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import type { DatabaseHandle } from '@/db/client';
import { jobSteps } from '@/db/schema';
import type { ServiceDeps } from '@/server/context';
import { createScaledClock } from '@/server/lib/clock';
import { silentLogger } from '@/server/lib/logger';
import { createTestDatabase, DB_KINDS } from '@/test/db';
import { enqueueJob, getJobRow, requestCancel, waitForJob } from './client';
import { createJobRegistry, defineJob, defineStep } from './define';
import { NonRetryableError } from './retry';
import { createRunner, type Runner } from './runner';

/** A fake external system with effects the saga must undo: "resources" keyed by idempotency key. */
function fakeSystem() {
  const resources = new Set<string>();
  const calls: string[] = [];
  return { resources, calls };
}

const Input = z.object({ failAt: z.string().nullable().default(null), slowMs: z.number().default(0), transientFailures: z.number().default(0) });

function jobsFor(sys: ReturnType<typeof fakeSystem>) {
  let transient = 0;
  const acquire = defineStep<z.infer<typeof Input>>({
    name: 'acquire',
    compensateIfStarted: true,
    async run(ctx) {
      sys.calls.push('acquire');
      sys.resources.add(ctx.idempotencyKey);
      if (ctx.input.failAt === 'acquire') throw new NonRetryableError('acquire refused');
      return { key: ctx.idempotencyKey };
    },
    async compensate(ctx) {
      sys.calls.push('release-acquire');
      sys.resources.delete(ctx.idempotencyKey);
      return { released: true };
    },
  });
  const work = defineStep<z.infer<typeof Input>>({
    name: 'work',
    retry: { baseDelayMs: 10, maxAttempts: 3, jitter: 0 },
    async run(ctx) {
      sys.calls.push('work');
      if (ctx.input.transientFailures > transient) {
        transient++;
        throw new Error('transient glitch');
      }
      if (ctx.input.slowMs) await ctx.clock.sleep(ctx.input.slowMs, ctx.signal);
      if (ctx.input.failAt === 'work') throw new NonRetryableError('work failed for good');
      ctx.progress({ bytesDone: 10, bytesTotal: 10 });
      return { done: true };
    },
  });
  const finish = defineStep<z.infer<typeof Input>>({
    name: 'finish',
    async run(ctx) {
      sys.calls.push('finish');
      sys.resources.delete(`${ctx.jobId}:acquire`);
      return { finished: true };
    },
  });
  return createJobRegistry([
    defineJob({ type: 'test.saga', version: '1', input: Input, steps: [acquire, work, finish], result: (r) => ({ steps: Object.keys(r) }) }),
  ]);
}

describe.each(DB_KINDS)('engine runner on %s', (kind) => {
  let h: DatabaseHandle;
  const clock = createScaledClock(20);
  const deps = {} as ServiceDeps;
  const runners: Runner[] = [];

  beforeAll(async () => {
    h = await createTestDatabase(kind);
  });
  afterAll(async () => {
    for (const r of runners) await r.stop({ drainMs: 0 });
    await h.close();
  });

  const startRunner = async (sys: ReturnType<typeof fakeSystem>, opts: { leaseMs?: number } = {}) => {
    const r = createRunner({ db: h.db, clock, logger: silentLogger, deps, registry: jobsFor(sys), pollMs: 100, leaseMs: opts.leaseMs ?? 10_000, isProcessAlive: () => true });
    runners.push(r);
    await r.start();
    return r;
  };

  it('runs every step, records each before and after, and succeeds', async () => {
    const sys = fakeSystem();
    const runner = await startRunner(sys);
    const { job } = await enqueueJob(h.db, clock, { type: 'test.saga', input: {} });
    runner.wake();
    const done = await waitForJob(h.db, job.id, { timeoutMs: 20_000 });
    expect(done.status).toBe('succeeded');
    expect(done.result).toEqual({ steps: ['acquire', 'work', 'finish'] });
    const steps = await h.db.select().from(jobSteps).where(eq(jobSteps.jobId, job.id));
    expect(steps.map((s) => [s.name, s.phase, s.status])).toEqual([
      ['acquire', 'run', 'completed'],
      ['work', 'run', 'completed'],
      ['finish', 'run', 'completed'],
    ]);
    expect(sys.resources.size).toBe(0);
    await runner.stop();
  });

  it('deduplicates enqueues by key', async () => {
    const a = await enqueueJob(h.db, clock, { type: 'test.saga', input: {}, key: 'same-key', runAt: clock.now() + 3_600_000 });
    const b = await enqueueJob(h.db, clock, { type: 'test.saga', input: {}, key: 'same-key' });
    expect(a.created).toBe(true);
    expect(b.created).toBe(false);
    expect(b.job.id).toBe(a.job.id);
    await requestCancel(h.db, clock, a.job.id);
    expect((await getJobRow(h.db, a.job.id)).status).toBe('cancelled');
  });

  it('retries a transient failure, then succeeds', async () => {
    const sys = fakeSystem();
    const runner = await startRunner(sys);
    const { job } = await enqueueJob(h.db, clock, { type: 'test.saga', input: { transientFailures: 2 } });
    runner.wake();
    const done = await waitForJob(h.db, job.id, { timeoutMs: 20_000 });
    expect(done.status).toBe('succeeded');
    expect(sys.calls.filter((c) => c === 'work')).toHaveLength(3);
    await runner.stop();
  });

  it('compensates completed steps in reverse when a step fails for good', async () => {
    const sys = fakeSystem();
    const runner = await startRunner(sys);
    const { job } = await enqueueJob(h.db, clock, { type: 'test.saga', input: { failAt: 'work' } });
    runner.wake();
    const done = await waitForJob(h.db, job.id, { timeoutMs: 20_000 });
    expect(done.status).toBe('failed');
    expect(done.error?.step).toBe('work');
    expect(sys.calls).toEqual(['acquire', 'work', 'release-acquire']);
    expect(sys.resources.size).toBe(0);
    await runner.stop();
  });

  it('compensates a step that started but did not complete when it is marked compensateIfStarted', async () => {
    const sys = fakeSystem();
    const runner = await startRunner(sys);
    const { job } = await enqueueJob(h.db, clock, { type: 'test.saga', input: { failAt: 'acquire' } });
    runner.wake();
    const done = await waitForJob(h.db, job.id, { timeoutMs: 20_000 });
    expect(done.status).toBe('failed');
    expect(sys.resources.size).toBe(0);
    await runner.stop();
  });

  it('cancels a running job and compensates', async () => {
    const sys = fakeSystem();
    const runner = await startRunner(sys);
    const { job } = await enqueueJob(h.db, clock, { type: 'test.saga', input: { slowMs: 600_000 } });
    runner.wake();
    await expect.poll(async () => sys.calls.includes('work'), { timeout: 10_000 }).toBe(true);
    await requestCancel(h.db, clock, job.id);
    const done = await waitForJob(h.db, job.id, { timeoutMs: 30_000 });
    expect(done.status).toBe('cancelled');
    expect(sys.resources.size).toBe(0);
    await runner.stop();
  });

  it('a new worker resumes a job whose worker died, from the first unfinished step', async () => {
    const sys = fakeSystem();
    const first = await startRunner(sys, { leaseMs: 8_000 });
    const { job } = await enqueueJob(h.db, clock, { type: 'test.saga', input: { slowMs: 5_000 } });
    first.wake();
    await expect.poll(async () => sys.calls.includes('work'), { timeout: 10_000 }).toBe(true);
    await first.crash();
    expect((await getJobRow(h.db, job.id)).status).toBe('running');
    const second = await startRunner(sys, { leaseMs: 8_000 });
    const done = await waitForJob(h.db, job.id, { timeoutMs: 30_000 });
    expect(done.status).toBe('succeeded');
    expect(done.recoveries).toBe(1);
    // acquire was memoised (not run twice); work ran again after the crash
    expect(sys.calls.filter((c) => c === 'acquire')).toHaveLength(1);
    expect(sys.calls.filter((c) => c === 'work')).toHaveLength(2);
    expect(sys.resources.size).toBe(0);
    await second.stop();
  });
});
