import { and, eq, isNull } from 'drizzle-orm';
import type { Queryable } from '@/db/client';
import { environmentOverrides } from '@/db/schema';

export type OverrideKind = (typeof environmentOverrides.$inferSelect)['kind'];
export type OverrideRow = typeof environmentOverrides.$inferSelect;

/**
 * Records a change to the environment BEFORE making it. A retried or recovered step finds the
 * first row (and its original value) instead of remembering the already-changed state.
 */
export async function recordOverride(
  db: Queryable,
  o: { kind: OverrideKind; targetId: string; targetName?: string | null; jobId: string; original: Record<string, unknown>; applied: Record<string, unknown>; now: number },
): Promise<OverrideRow> {
  await db
    .insert(environmentOverrides)
    .values({ kind: o.kind, targetId: o.targetId, targetName: o.targetName ?? null, jobId: o.jobId, original: o.original, applied: o.applied, createdAt: new Date(o.now) })
    .onConflictDoNothing();
  const [row] = await db
    .select()
    .from(environmentOverrides)
    .where(and(eq(environmentOverrides.kind, o.kind), eq(environmentOverrides.targetId, o.targetId), eq(environmentOverrides.jobId, o.jobId)));
  return row!;
}

export async function findOverride(db: Queryable, kind: OverrideKind, targetId: string, jobId: string): Promise<OverrideRow | null> {
  const [row] = await db
    .select()
    .from(environmentOverrides)
    .where(and(eq(environmentOverrides.kind, kind), eq(environmentOverrides.targetId, targetId), eq(environmentOverrides.jobId, jobId)));
  return row ?? null;
}

export async function markRestored(db: Queryable, id: number, by: string, now: number): Promise<void> {
  await db
    .update(environmentOverrides)
    .set({ restoredAt: new Date(now), restoredBy: by })
    .where(and(eq(environmentOverrides.id, id), isNull(environmentOverrides.restoredAt)));
}

export async function openOverrides(db: Queryable): Promise<OverrideRow[]> {
  return db.select().from(environmentOverrides).where(isNull(environmentOverrides.restoredAt));
}
