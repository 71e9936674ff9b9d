import { desc, eq, sql } from 'drizzle-orm';
import type { Queryable } from '@/db/client';
import { jobs, policies, restorePoints } from '@/db/schema';
import type { VmInfo } from '@/server/connectors/types';
import { matchesSelection } from '@/server/policies/selection';

export type ProtectionState = 'protected' | 'at-risk' | 'unprotected';

/** Default recovery point objective until SLA policies set one per VM. */
export const DEFAULT_RPO_MS = 24 * 3_600_000;

export interface LatestPoint {
  id: string;
  createdAt: Date;
  consistency: 'application' | 'crash';
}

export interface VmProtection {
  state: ProtectionState;
  policies: Array<{ id: string; name: string; enabled: boolean }>;
  lastPoint: LatestPoint | null;
  rpoMs: number;
  /** Why the state is what it is, in one sentence for the UI. */
  summary: string;
}

export interface ProtectionFacts {
  policies: Array<typeof policies.$inferSelect>;
  latestPoints: Map<string, LatestPoint>;
  lastJobs: Map<string, { id: string; status: string; createdAt: Date; type: string }>;
}

/** Everything needed to judge every VM's protection, in three queries. */
export async function loadProtectionFacts(db: Queryable): Promise<ProtectionFacts> {
  const allPolicies = await db.select().from(policies);
  const latest = await db
    .selectDistinctOn([restorePoints.vmId], { vmId: restorePoints.vmId, id: restorePoints.id, createdAt: restorePoints.createdAt, consistency: restorePoints.consistency })
    .from(restorePoints)
    .where(eq(restorePoints.status, 'available'))
    .orderBy(restorePoints.vmId, desc(restorePoints.createdAt));
  const lastJobs = await db
    .selectDistinctOn([jobs.vmId], { vmId: jobs.vmId, id: jobs.id, status: jobs.status, createdAt: jobs.createdAt, type: jobs.type })
    .from(jobs)
    .where(sql`${jobs.vmId} is not null and ${jobs.type} = 'backup.vm'`)
    .orderBy(jobs.vmId, desc(jobs.createdAt));
  return {
    policies: allPolicies,
    latestPoints: new Map(latest.map((r) => [r.vmId, { id: r.id, createdAt: r.createdAt, consistency: r.consistency }])),
    lastJobs: new Map(lastJobs.filter((j) => j.vmId).map((j) => [j.vmId!, { id: j.id, status: j.status, createdAt: j.createdAt, type: j.type }])),
  };
}

export function protectionOf(vm: Pick<VmInfo, 'id' | 'name' | 'folder' | 'tags' | 'isProxy'>, facts: ProtectionFacts, now: number): VmProtection {
  const covering = facts.policies.filter((p) => matchesSelection(vm, p.selection));
  const enabled = covering.filter((p) => p.enabled);
  const lastPoint = facts.latestPoints.get(vm.id) ?? null;
  const rpoMs = DEFAULT_RPO_MS;
  const fresh = lastPoint !== null && now - lastPoint.createdAt.getTime() <= rpoMs;
  const policiesOut = covering.map((p) => ({ id: p.id, name: p.name, enabled: p.enabled }));
  if (fresh) {
    return { state: 'protected', policies: policiesOut, lastPoint, rpoMs, summary: enabled.length ? `Protected by ${enabled.map((p) => p.name).join(', ')}` : 'Has a recent restore point, but no enabled policy covers it' };
  }
  if (enabled.length > 0) {
    return {
      state: 'at-risk',
      policies: policiesOut,
      lastPoint,
      rpoMs,
      summary: lastPoint ? `Last restore point is older than the ${rpoMs / 3_600_000} h RPO` : 'Covered by a policy but has no restore point yet',
    };
  }
  return { state: 'unprotected', policies: policiesOut, lastPoint, rpoMs, summary: 'No enabled policy selects this VM' };
}
