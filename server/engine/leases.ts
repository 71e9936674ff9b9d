import { and, eq, inArray, ne, notInArray, sql } from 'drizzle-orm';
import type { Queryable } from '@/db/client';
import { jobs, resourceLeases } from '@/db/schema';
import { TERMINAL_STATUSES } from './statuses';

/** A slot kind with its limit: `proxy:<id>` 4, `datastore:<id>` 4… */
export interface ResourceDemand {
  resource: string;
  /** Human name for the waiting message ("proxy-02 tasks"). */
  label: string;
  limit: number;
}

export type LeaseOutcome = { acquired: true } | { acquired: false; reason: string; full: Array<{ label: string; used: number; limit: number }> };

/** Lock key that serialises lease decisions across engine processes sharing one PostgreSQL. */
const LEASE_LOCK_KEY = 7_414_212;

/**
 * All-or-nothing: the job gets every slot it asks for, or none and the reason it waits
 * ("proxy-02 4/4 tasks, datastore san-01 2/2 snapshots"). Idempotent per job: slots it already
 * holds count as its own.
 */
export async function tryAcquire(db: Queryable, jobId: string, demands: ResourceDemand[], now: number): Promise<LeaseOutcome> {
  if (demands.length === 0) return { acquired: true };
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${LEASE_LOCK_KEY})`);
    const names = demands.map((d) => d.resource);
    const used = await tx
      .select({ resource: resourceLeases.resource, n: sql<number>`count(*)::int` })
      .from(resourceLeases)
      .innerJoin(jobs, eq(jobs.id, resourceLeases.jobId))
      .where(and(inArray(resourceLeases.resource, names), ne(resourceLeases.jobId, jobId), notInArray(jobs.status, [...TERMINAL_STATUSES])))
      .groupBy(resourceLeases.resource);
    const full = demands
      .map((d) => ({ label: d.label, used: used.find((u) => u.resource === d.resource)?.n ?? 0, limit: d.limit }))
      .filter((x) => x.used >= x.limit);
    if (full.length > 0) return { acquired: false, reason: full.map((f) => `${f.label} ${f.used}/${f.limit}`).join(', '), full };
    await tx
      .insert(resourceLeases)
      .values(demands.map((d) => ({ resource: d.resource, jobId, acquiredAt: new Date(now) })))
      .onConflictDoNothing();
    return { acquired: true };
  });
}

export async function releaseAll(db: Queryable, jobId: string): Promise<number> {
  const rows = await db.delete(resourceLeases).where(eq(resourceLeases.jobId, jobId)).returning({ id: resourceLeases.id });
  return rows.length;
}

/** Slots in use per resource (ended jobs excluded): for the Proxies page and waiting messages. */
export async function usage(db: Queryable, prefix?: string): Promise<Map<string, number>> {
  const rows = await db
    .select({ resource: resourceLeases.resource, n: sql<number>`count(*)::int` })
    .from(resourceLeases)
    .innerJoin(jobs, eq(jobs.id, resourceLeases.jobId))
    .where(and(notInArray(jobs.status, [...TERMINAL_STATUSES]), prefix ? sql`${resourceLeases.resource} like ${`${prefix}%`}` : undefined))
    .groupBy(resourceLeases.resource);
  return new Map(rows.map((r) => [r.resource, r.n]));
}
