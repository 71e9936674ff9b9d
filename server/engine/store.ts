import os from 'node:os';
import { and, asc, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Queryable } from '@/db/client';
import { engineWorkers, jobLogs, jobs, jobSteps, type JobError, type JobProgress } from '@/db/schema';
import type { JobStatus } from './state';

export type JobRow = typeof jobs.$inferSelect;
export type StepRow = typeof jobSteps.$inferSelect;

export interface LeasedJob {
  job: JobRow;
  /** The job was running or compensating under a worker whose lease expired. */
  recovered: boolean;
  /** Status before this lease (the row now says running, or still compensating). */
  previousStatus: JobStatus;
  previousWorker: string | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The engine's durable state, with guarded writes: every update of a leased job says
 * `WHERE id = $job AND locked_by = $me`, so a worker that lost its lease cannot overwrite the
 * new owner's progress.
 */
export function createJobStore(db: Queryable, workerId: string) {
  return {
    workerId,

    async registerWorker(now: number): Promise<void> {
      await db
        .insert(engineWorkers)
        .values({ id: workerId, hostname: os.hostname(), pid: process.pid, startedAt: new Date(now), heartbeatAt: new Date(now) })
        .onConflictDoUpdate({ target: engineWorkers.id, set: { heartbeatAt: new Date(now), stoppedAt: null } });
    },

    async workerHeartbeat(now: number): Promise<void> {
      await db.update(engineWorkers).set({ heartbeatAt: new Date(now) }).where(eq(engineWorkers.id, workerId));
    },

    async workerStopped(now: number): Promise<void> {
      await db.update(engineWorkers).set({ stoppedAt: new Date(now) }).where(eq(engineWorkers.id, workerId));
    },

    /**
     * Workers on this host whose process is gone, or that stopped: their leases are void now,
     * so a restarted engine takes their jobs over at once instead of waiting for the lease to expire.
     */
    async expireDeadWorkers(now: number, isAlive: (pid: number) => boolean): Promise<string[]> {
      const rows = await db.select().from(engineWorkers);
      const dead = rows
        .filter((w) => w.id !== workerId)
        .filter((w) => w.stoppedAt !== null || (w.hostname === os.hostname() && !isAlive(w.pid)))
        .map((w) => w.id);
      if (dead.length === 0) return [];
      await db
        .update(jobs)
        .set({ lockedUntil: new Date(now - 1) })
        .where(and(inArray(jobs.lockedBy, dead), inArray(jobs.status, ['running', 'compensating'])));
      return dead;
    },

    /** Takes the next runnable job (queued and due, or abandoned by a dead worker) with FOR UPDATE SKIP LOCKED. */
    async leaseNext(opts: { now: number; leaseMs: number; types: string[]; onlyJobIds?: string[] | null; excludeJobIds?: string[] }): Promise<LeasedJob | null> {
      if (opts.types.length === 0) return null;
      if (opts.onlyJobIds && opts.onlyJobIds.length === 0) return null;
      const now = iso(opts.now);
      const until = iso(opts.now + opts.leaseMs);
      const typeList = sql.join(opts.types.map((t) => sql`${t}`), sql`, `);
      const idFilter = opts.onlyJobIds ? sql`AND id IN (${sql.join(opts.onlyJobIds.map((i) => sql`${i}::uuid`), sql`, `)})` : sql``;
      // Never take over a job this worker is still running (its lease may have lapsed under load).
      const exclude = opts.excludeJobIds?.length ? sql`AND id NOT IN (${sql.join(opts.excludeJobIds.map((i) => sql`${i}::uuid`), sql`, `)})` : sql``;
      const res = (await db.execute(sql`
        WITH candidate AS (
          SELECT id, status AS prev_status, locked_by AS prev_locked_by
          FROM jobs
          WHERE type IN (${typeList})
            AND ((status IN ('queued', 'retrying') AND run_at <= ${now}::timestamptz)
              OR (status IN ('running', 'compensating') AND locked_until < ${now}::timestamptz))
            ${idFilter}
            ${exclude}
          ORDER BY priority, run_at, created_at
          LIMIT 1
          FOR UPDATE SKIP LOCKED
        )
        UPDATE jobs j SET
          locked_by = ${workerId},
          locked_until = ${until}::timestamptz,
          updated_at = ${now}::timestamptz,
          status = CASE WHEN j.status IN ('queued', 'retrying') THEN 'running'::job_status ELSE j.status END,
          started_at = COALESCE(j.started_at, ${now}::timestamptz),
          attempts = CASE WHEN j.status = 'queued' THEN j.attempts + 1 ELSE j.attempts END,
          recoveries = CASE WHEN j.status IN ('running', 'compensating') THEN j.recoveries + 1 ELSE j.recoveries END
        FROM candidate c
        WHERE j.id = c.id
        RETURNING j.id, c.prev_status, c.prev_locked_by`)) as unknown as { rows: Array<{ id: string; prev_status: JobStatus; prev_locked_by: string | null }> };
      const row = res.rows[0];
      if (!row) return null;
      const [job] = await db.select().from(jobs).where(eq(jobs.id, row.id));
      if (!job) return null;
      const recovered = row.prev_status === 'running' || row.prev_status === 'compensating';
      return { job, recovered, previousStatus: row.prev_status, previousWorker: row.prev_locked_by };
    },

    /** Extends the lease and stores progress; returns null when the lease is lost. */
    async heartbeat(jobId: string, now: number, leaseMs: number, progress?: JobProgress): Promise<{ cancelRequested: boolean } | null> {
      const rows = await db
        .update(jobs)
        .set({ lockedUntil: new Date(now + leaseMs), updatedAt: new Date(now), ...(progress ? { progress } : {}) })
        .where(and(eq(jobs.id, jobId), eq(jobs.lockedBy, workerId)))
        .returning({ cancelRequestedAt: jobs.cancelRequestedAt });
      const row = rows[0];
      return row ? { cancelRequested: row.cancelRequestedAt !== null } : null;
    },

    async saveProgress(jobId: string, progress: JobProgress): Promise<void> {
      await db.update(jobs).set({ progress }).where(and(eq(jobs.id, jobId), eq(jobs.lockedBy, workerId)));
    },

    async setWaiting(jobId: string, reason: string | null): Promise<void> {
      await db.update(jobs).set({ waitingReason: reason }).where(and(eq(jobs.id, jobId), eq(jobs.lockedBy, workerId)));
    },

    /** Guarded status change; false when this worker no longer owns the job. */
    async setStatus(jobId: string, status: JobStatus, now: number, extra: { error?: JobError | null; result?: Record<string, unknown> | null } = {}): Promise<boolean> {
      const terminal = status === 'succeeded' || status === 'failed' || status === 'cancelled';
      const rows = await db
        .update(jobs)
        .set({
          status,
          updatedAt: new Date(now),
          ...(extra.error !== undefined ? { error: extra.error } : {}),
          ...(extra.result !== undefined ? { result: extra.result } : {}),
          ...(terminal ? { finishedAt: new Date(now), lockedBy: null, lockedUntil: null, waitingReason: null } : {}),
        })
        .where(and(eq(jobs.id, jobId), eq(jobs.lockedBy, workerId)))
        .returning({ id: jobs.id });
      return rows.length > 0;
    },

    /** Gives the job back to the queue (retry later, or after a graceful shutdown). */
    async release(jobId: string, now: number, opts: { status: 'retrying' | 'running' | 'compensating'; runAt?: number }): Promise<void> {
      await db
        .update(jobs)
        .set({
          status: opts.status,
          lockedUntil: new Date(now - 1),
          ...(opts.status === 'retrying' ? { lockedBy: null, runAt: new Date(opts.runAt ?? now) } : {}),
          updatedAt: new Date(now),
        })
        .where(and(eq(jobs.id, jobId), eq(jobs.lockedBy, workerId)));
    },

    /** The job waits for resources: back to the queue (status retrying) with the reason shown. */
    async requeueWaiting(jobId: string, now: number, runAt: number, reason: string): Promise<boolean> {
      const rows = await db
        .update(jobs)
        .set({ status: 'retrying', lockedBy: null, lockedUntil: null, runAt: new Date(runAt), waitingReason: reason, updatedAt: new Date(now) })
        .where(and(eq(jobs.id, jobId), eq(jobs.lockedBy, workerId)))
        .returning({ id: jobs.id });
      return rows.length > 0;
    },

    async loadSteps(jobId: string): Promise<StepRow[]> {
      return db.select().from(jobSteps).where(eq(jobSteps.jobId, jobId)).orderBy(asc(jobSteps.seq), asc(jobSteps.id));
    },

    async stepStarted(jobId: string, seq: number, name: string, phase: 'run' | 'compensate', attempt: number, now: number): Promise<void> {
      await db
        .insert(jobSteps)
        .values({ jobId, seq, name, phase, status: 'running', attempt, startedAt: new Date(now) })
        .onConflictDoUpdate({
          target: [jobSteps.jobId, jobSteps.name, jobSteps.phase],
          set: { status: 'running', attempt, startedAt: new Date(now), finishedAt: null, error: null },
        });
    },

    async stepFinished(
      jobId: string,
      name: string,
      phase: 'run' | 'compensate',
      now: number,
      outcome: { status: 'completed' | 'failed' | 'skipped'; result?: Record<string, unknown> | null; error?: JobError | null },
    ): Promise<void> {
      await db
        .update(jobSteps)
        .set({ status: outcome.status, finishedAt: new Date(now), result: outcome.result ?? null, error: outcome.error ?? null })
        .where(and(eq(jobSteps.jobId, jobId), eq(jobSteps.name, name), eq(jobSteps.phase, phase)));
    },

    async log(jobId: string, now: number, level: 'debug' | 'info' | 'warn' | 'error', message: string, step: string | null, data?: Record<string, unknown>): Promise<void> {
      await db.insert(jobLogs).values({ jobId, at: new Date(now), level, message, step, data: data ?? null });
    },

    /** Jobs this worker still holds (used on shutdown). */
    async heldJobIds(): Promise<string[]> {
      const rows = await db.select({ id: jobs.id }).from(jobs).where(eq(jobs.lockedBy, workerId));
      return rows.map((r) => r.id);
    },

    async expiredLeaseCount(now: number): Promise<number> {
      const rows = await db
        .select({ n: sql<number>`count(*)::int` })
        .from(jobs)
        .where(and(inArray(jobs.status, ['running', 'compensating']), lt(jobs.lockedUntil, new Date(now))));
      return rows[0]?.n ?? 0;
    },
  };
}

export type JobStore = ReturnType<typeof createJobStore>;
