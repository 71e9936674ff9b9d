import { z } from 'zod';
import { recordAudit } from '@/server/audit/record';
import { requireRole, type ServiceContext } from '@/server/context';
import { PreconditionError } from '@/server/errors';

function requireLab(ctx: ServiceContext) {
  if (!ctx.deps.lab) throw new PreconditionError('This server runs without the lab environment');
  return ctx.deps.lab;
}

export async function inspectLab({ ctx }: { ctx: ServiceContext }) {
  requireRole(ctx, 'viewer');
  return requireLab(ctx).inspect();
}

export const LabEventsInput = z.object({ sinceId: z.number().int().optional(), limit: z.number().int().min(1).max(1000).default(100) });
export type LabEventsInput = z.input<typeof LabEventsInput>;

export async function listLabEvents({ ctx, input }: { ctx: ServiceContext; input: LabEventsInput }) {
  requireRole(ctx, 'viewer');
  const f = LabEventsInput.parse(input);
  return requireLab(ctx).events(f);
}

export const InjectFaultInput = z.object({ kind: z.string().min(1) }).passthrough();
export type InjectFaultInput = z.infer<typeof InjectFaultInput>;

export async function injectLabFault({ ctx, input }: { ctx: ServiceContext; input: InjectFaultInput }) {
  requireRole(ctx, 'admin');
  const fault = InjectFaultInput.parse(input);
  const res = await requireLab(ctx).injectFault(fault);
  await recordAudit(ctx, { action: 'lab.injectFault', targetKind: 'lab', targetName: fault.kind, details: fault });
  return res;
}
