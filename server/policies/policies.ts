import { asc, eq } from 'drizzle-orm';
import { policies, storageUnits } from '@/db/schema';
import { recordAudit } from '@/server/audit/record';
import { requireRole, withTransaction, actorName, type ServiceContext } from '@/server/context';
import { ConflictError, NotFoundError, ValidationError } from '@/server/errors';
import { CreatePolicyInput, PolicyIdInput, PreviewSelectionInput, UpdatePolicyInput, PolicySettingsSchema } from './schemas';
import { nextRun } from './schedule';
import { selectVms } from './selection';

export type PolicyRow = typeof policies.$inferSelect;

async function assertStorageUnit(ctx: ServiceContext, id: string): Promise<void> {
  const [u] = await ctx.db.select({ id: storageUnits.id }).from(storageUnits).where(eq(storageUnits.id, id));
  if (!u) throw new ValidationError('Unknown storage unit', { storageUnitId: ['This storage unit does not exist; choose one from the list'] });
}

async function assertNameFree(ctx: ServiceContext, name: string, exceptId?: string): Promise<void> {
  const [p] = await ctx.db.select({ id: policies.id }).from(policies).where(eq(policies.name, name));
  if (p && p.id !== exceptId) throw new ValidationError('Name taken', { name: [`A policy named "${name}" exists`] });
}

export async function listPolicies({ ctx }: { ctx: ServiceContext }): Promise<PolicyRow[]> {
  requireRole(ctx, 'viewer');
  return ctx.db.select().from(policies).orderBy(asc(policies.name));
}

export async function getPolicy({ ctx, input }: { ctx: ServiceContext; input: PolicyIdInput }): Promise<PolicyRow> {
  requireRole(ctx, 'viewer');
  const { id } = PolicyIdInput.parse(input);
  const [p] = await ctx.db.select().from(policies).where(eq(policies.id, id));
  if (!p) throw new NotFoundError('Policy', id);
  return p;
}

export async function createPolicy({ ctx, input }: { ctx: ServiceContext; input: CreatePolicyInput }): Promise<PolicyRow> {
  requireRole(ctx, 'admin');
  const data = CreatePolicyInput.parse(input);
  return withTransaction(ctx, async (tctx) => {
    await assertStorageUnit(tctx, data.storageUnitId);
    await assertNameFree(tctx, data.name);
    const now = tctx.clock.now();
    const [row] = await tctx.db
      .insert(policies)
      .values({
        ...data,
        settings: data.settings,
        nextRunAt: data.enabled ? new Date(nextRun(data.schedule, data.timezone, now) ?? now) : null,
        createdBy: actorName(tctx.actor),
        createdAt: new Date(now),
        updatedAt: new Date(now),
      })
      .returning();
    await recordAudit(tctx, { action: 'policy.create', targetKind: 'policy', targetId: row!.id, targetName: row!.name, details: { schedule: data.schedule, selection: data.selection } });
    return row!;
  });
}

export async function updatePolicy({ ctx, input }: { ctx: ServiceContext; input: UpdatePolicyInput }): Promise<PolicyRow> {
  requireRole(ctx, 'admin');
  const data = UpdatePolicyInput.parse(input);
  return withTransaction(ctx, async (tctx) => {
    const current = await getPolicy({ ctx: tctx, input: { id: data.id } });
    if (data.storageUnitId) await assertStorageUnit(tctx, data.storageUnitId);
    if (data.name) await assertNameFree(tctx, data.name, data.id);
    const merged = { ...current, ...data, settings: PolicySettingsSchema.parse({ ...current.settings, ...data.settings }) };
    const now = tctx.clock.now();
    const scheduleChanged = merged.schedule !== current.schedule || merged.timezone !== current.timezone || merged.enabled !== current.enabled;
    const [row] = await tctx.db
      .update(policies)
      .set({
        name: merged.name,
        description: merged.description,
        enabled: merged.enabled,
        schedule: merged.schedule,
        timezone: merged.timezone,
        selection: merged.selection,
        storageUnitId: merged.storageUnitId,
        settings: merged.settings,
        updatedAt: new Date(now),
        ...(scheduleChanged ? { nextRunAt: merged.enabled ? new Date(nextRun(merged.schedule, merged.timezone, now) ?? now) : null } : {}),
      })
      .where(eq(policies.id, data.id))
      .returning();
    const { id: _id, ...changes } = data;
    await recordAudit(tctx, { action: 'policy.update', targetKind: 'policy', targetId: data.id, targetName: row!.name, details: { changes } });
    return row!;
  });
}

export async function deletePolicy({ ctx, input }: { ctx: ServiceContext; input: PolicyIdInput & { confirm: string } }): Promise<{ id: string }> {
  requireRole(ctx, 'admin');
  const { id } = PolicyIdInput.parse(input);
  return withTransaction(ctx, async (tctx) => {
    const p = await getPolicy({ ctx: tctx, input: { id } });
    if (input.confirm !== p.name) throw new ConflictError(`Type the policy's name ("${p.name}") to confirm`);
    await tctx.db.delete(policies).where(eq(policies.id, id));
    await recordAudit(tctx, { action: 'policy.delete', targetKind: 'policy', targetId: id, targetName: p.name });
    return { id };
  });
}

/** Which VMs a selection picks right now (the form shows it live). */
export async function previewSelection({ ctx, input }: { ctx: ServiceContext; input: PreviewSelectionInput }) {
  requireRole(ctx, 'viewer');
  const { selection } = PreviewSelectionInput.parse(input);
  const inv = await ctx.deps.connectors.hypervisor.inventory();
  return selectVms(inv.vms, selection).map((vm) => ({ id: vm.id, name: vm.name, folder: vm.folder, tags: vm.tags }));
}


