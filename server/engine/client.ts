import { and, eq, inArray, isNull } from 'drizzle-orm';
import type { Queryable } from '@/db/client';
import { jobs } from '@/db/schema';
import { NotFoundError, ConflictError } from '@/server/errors';
import type { Clock } from '@/server/lib/clock';
import { isTerminal, type JobStatus } from './state';
import type { JobRow } from './store';

/**
 * The engine's client API: the only engine module the web layer, the CLI and the scheduler use.
 * Enqueue runs inside the caller's transaction when given one, so a job row exists if and only
 * if the caller's write committed.
 */
export interface EnqueueInput {
  type: string;
  input: Record<string, unknown>;
  /** Dedupe key: enqueueing the same key again returns the existing job. */
  key?: string;
  priority?: number;
  runAt?: number;
  maxAttempts?: number;
  vmId?: string | null;
  vmName?: string | null;
  policyId?: string | null;
  storageUnitId?: string | null;
  parentJobId?: string | null;
  createdBy?: string | null;
}

export interface EnqueueResult {
  job: JobRow;
  /** False when a job with the same key already existed. */
  created: boolean;
}

export async function enqueueJob(db: Queryable, clock: Clock, e: EnqueueInput): Promise<EnqueueResult> {
  const now = new Date(clock.now());
  const rows = await db
    .insert(jobs)
    .values({
      type: e.type,
      key: e.key ?? null,
      input: e.input,
      priority: e.priority ?? 100,
      runAt: e.runAt ? new Date(e.runAt) : now,
      maxAttempts: e.maxAttempts ?? 3,
      vmId: e.vmId ?? null,
      vmName: e.vmName ?? null,
      policyId: e.policyId ?? null,
      storageUnitId: e.storageUnitId ?? null,
      parentJobId: e.parentJobId ?? null,
      createdBy: e.createdBy ?? null,
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoNothing({ target: jobs.key })
    .returning();
  if (rows[0]) return { job: rows[0], created: true };
  const [existing] = await db.select().from(jobs).where(eq(jobs.key, e.key!));
  if (!existing) throw new ConflictError(`job key ${e.key} conflicts but no job has it`);
  return { job: existing, created: false };
}

export async function getJobRow(db: Queryable, id: string): Promise<JobRow> {
  const [row] = await db.select().from(jobs).where(eq(jobs.id, id));
  if (!row) throw new NotFoundError('Job', id);
  return row;
}

/**
 * Cancel: a job that has not started is cancelled at once; a running one is asked to stop, and
 * its worker compensates (removes the snapshot, restores cache policies…) before it ends cancelled.
 */
export async function requestCancel(db: Queryable, clock: Clock, id: string): Promise<JobRow> {
  const job = await getJobRow(db, id);
  if (isTerminal(job.status)) throw new ConflictError(`job ${id} has already ended (${job.status})`);
  const now = new Date(clock.now());
  const immediate = await db
    .update(jobs)
    .set({ status: 'cancelled', cancelRequestedAt: now, finishedAt: now, updatedAt: now, error: { code: 'CANCELLED', message: 'cancelled before it started' } })
    .where(and(eq(jobs.id, id), inArray(jobs.status, ['queued', 'retrying']), isNull(jobs.lockedBy)))
    .returning();
  if (immediate[0]) return immediate[0];
  const rows = await db.update(jobs).set({ cancelRequestedAt: now, updatedAt: now }).where(eq(jobs.id, id)).returning();
  return rows[0] ?? job;
}

/** Polls until the job ends (CLI --wait, tests). */
export async function waitForJob(
  db: Queryable,
  id: string,
  opts: { signal?: AbortSignal; pollMs?: number; timeoutMs?: number; onUpdate?: (job: JobRow) => void } = {},
): Promise<JobRow> {
  const started = Date.now();
  for (;;) {
    const job = await getJobRow(db, id);
    opts.onUpdate?.(job);
    if (isTerminal(job.status as JobStatus)) return job;
    if (opts.timeoutMs !== undefined && Date.now() - started > opts.timeoutMs) throw new Error(`timed out waiting for job ${id} (status ${job.status})`);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, opts.pollMs ?? 250);
      opts.signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          reject(opts.signal?.reason ?? new Error('aborted'));
        },
        { once: true },
      );
    });
  }
}
