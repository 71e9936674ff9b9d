import { and, asc, desc, eq, gte, ilike, inArray, lt, lte, or, type SQL } from 'drizzle-orm';
import { jobLogs, jobSteps, jobs, policies, storageUnits } from '@/db/schema';
import { actorName, requireRole, type ServiceContext } from '@/server/context';
import { enqueueJob, getJobRow, requestCancel } from '@/server/engine/client';
import { matchesSelection } from '@/server/policies/selection';
import { NotFoundError, PreconditionError } from '@/server/errors';
import { resolveVm } from '@/server/inventory/inventory';
import { JobIdInput, ListJobsInput, StartBackupInput } from './schemas';

export async function listJobs({ ctx, input }: { ctx: ServiceContext; input: ListJobsInput }) {
  requireRole(ctx, 'viewer');
  const f = ListJobsInput.parse(input);
  const where: SQL[] = [];
  if (f.status?.length) where.push(inArray(jobs.status, f.status));
  if (f.type) where.push(eq(jobs.type, f.type));
  if (f.vm) where.push(or(ilike(jobs.vmName, `%${f.vm.replace(/[%_]/g, '\\$&')}%`), eq(jobs.vmId, f.vm))!);
  if (f.policyId) where.push(eq(jobs.policyId, f.policyId));
  if (f.from) where.push(gte(jobs.createdAt, f.from));
  if (f.to) where.push(lte(jobs.createdAt, f.to));
  if (f.before) where.push(lt(jobs.createdAt, f.before));
  const rows = await ctx.db
    .select({
      id: jobs.id,
      type: jobs.type,
      status: jobs.status,
      vmId: jobs.vmId,
      vmName: jobs.vmName,
      policyId: jobs.policyId,
      policyName: policies.name,
      createdAt: jobs.createdAt,
      startedAt: jobs.startedAt,
      finishedAt: jobs.finishedAt,
      progress: jobs.progress,
      waitingReason: jobs.waitingReason,
      result: jobs.result,
      error: jobs.error,
      recoveries: jobs.recoveries,
      parentJobId: jobs.parentJobId,
    })
    .from(jobs)
    .leftJoin(policies, eq(policies.id, jobs.policyId))
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(jobs.createdAt))
    .limit(f.limit);
  return rows;
}

export async function getJob({ ctx, input }: { ctx: ServiceContext; input: JobIdInput }) {
  requireRole(ctx, 'viewer');
  const { id } = JobIdInput.parse(input);
  const job = await getJobRow(ctx.db, id);
  const steps = await ctx.db.select().from(jobSteps).where(eq(jobSteps.jobId, id)).orderBy(asc(jobSteps.seq), asc(jobSteps.phase), asc(jobSteps.id));
  const logs = await ctx.db.select().from(jobLogs).where(eq(jobLogs.jobId, id)).orderBy(asc(jobLogs.id)).limit(1000);
  const policy = job.policyId ? ((await ctx.db.select({ id: policies.id, name: policies.name }).from(policies).where(eq(policies.id, job.policyId)))[0] ?? null) : null;
  const children = await ctx.db
    .select({ id: jobs.id, status: jobs.status, vmName: jobs.vmName, type: jobs.type })
    .from(jobs)
    .where(eq(jobs.parentJobId, id))
    .orderBy(asc(jobs.vmName));
  return { job, steps, logs, policy, children };
}

/** "Back up now": one backup.vm job for a VM, into its policy's storage unit (or the given one). */
export async function startBackup({ ctx, input }: { ctx: ServiceContext; input: StartBackupInput }) {
  requireRole(ctx, 'operator');
  const data = StartBackupInput.parse(input);
  const vm = await resolveVm(ctx, data.vm);
  if (vm.isProxy) throw new PreconditionError(`${vm.name} is a backup proxy, not a protected VM`);
  let policyId = data.policyId ?? null;
  let storageUnitId = data.storageUnitId ?? null;
  const allPolicies = await ctx.db.select().from(policies).orderBy(asc(policies.createdAt));
  if (policyId) {
    const p = allPolicies.find((x) => x.id === policyId);
    if (!p) throw new NotFoundError('Policy', policyId);
    storageUnitId ??= p.storageUnitId;
  } else {
    const covering = allPolicies.find((p) => p.enabled && matchesSelection(vm, p.selection));
    if (covering) {
      policyId = covering.id;
      storageUnitId ??= covering.storageUnitId;
    }
  }
  if (!storageUnitId) {
    const [first] = await ctx.db.select().from(storageUnits).orderBy(asc(storageUnits.createdAt)).limit(1);
    if (!first) throw new PreconditionError('There is no storage unit yet: add one on the Storage page');
    storageUnitId = first.id;
  } else {
    await ctx.deps.storage.unit(storageUnitId);
  }
  const { job } = await enqueueJob(ctx.db, ctx.clock, {
    type: 'backup.vm',
    input: { vmId: vm.id, storageUnitId, policyId, trigger: 'manual' },
    vmId: vm.id,
    vmName: vm.name,
    policyId,
    storageUnitId,
    priority: 10,
    createdBy: actorName(ctx.actor),
  });
  return { job: { id: job.id, status: job.status }, vm: { id: vm.id, name: vm.name } };
}

export async function cancelJob({ ctx, input }: { ctx: ServiceContext; input: JobIdInput }) {
  requireRole(ctx, 'operator');
  const { id } = JobIdInput.parse(input);
  const job = await requestCancel(ctx.db, ctx.clock, id);
  return { id: job.id, status: job.status, cancelRequested: true };
}
