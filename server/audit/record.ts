import { auditLog } from '@/db/schema';
import { actorId, actorName, type ServiceContext } from '@/server/context';

export interface AuditEntry {
  action: string;
  targetKind: string;
  targetId?: string | null;
  targetName?: string | null;
  details?: Record<string, unknown>;
}

/** Every change an admin or the engine makes to the environment or configuration is recorded. */
export async function recordAudit(ctx: ServiceContext, e: AuditEntry): Promise<void> {
  await ctx.db.insert(auditLog).values({
    at: new Date(ctx.clock.now()),
    actorKind: ctx.actor.kind,
    actorId: actorId(ctx.actor),
    actorName: actorName(ctx.actor),
    action: e.action,
    targetKind: e.targetKind,
    targetId: e.targetId ?? null,
    targetName: e.targetName ?? null,
    jobId: ctx.actor.kind === 'system' ? (ctx.actor.jobId ?? null) : null,
    details: e.details ?? null,
  });
}
