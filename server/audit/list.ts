import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { auditLog } from '@/db/schema';
import { requireRole, type ServiceContext } from '@/server/context';

export const ListAuditInput = z.object({
  targetKind: z.string().optional(),
  action: z.string().optional(),
  beforeId: z.number().int().optional(),
  limit: z.number().int().min(1).max(500).default(100),
});
export type ListAuditInput = z.input<typeof ListAuditInput>;

export async function listAudit({ ctx, input }: { ctx: ServiceContext; input: ListAuditInput }) {
  requireRole(ctx, 'viewer');
  const f = ListAuditInput.parse(input);
  const where: SQL[] = [];
  if (f.targetKind) where.push(eq(auditLog.targetKind, f.targetKind));
  if (f.action) where.push(eq(auditLog.action, f.action));
  if (f.beforeId) where.push(lt(auditLog.id, f.beforeId));
  return ctx.db.select().from(auditLog).where(where.length ? and(...where) : undefined).orderBy(desc(auditLog.id)).limit(f.limit);
}
