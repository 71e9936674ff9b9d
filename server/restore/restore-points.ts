import fs from 'node:fs';
import path from 'node:path';
import { desc, eq } from 'drizzle-orm';
import { restorePoints, storageUnits } from '@/db/schema';
import { actorName, requireRole, type ServiceContext } from '@/server/context';
import { enqueueJob } from '@/server/engine/client';
import { NotFoundError, ValidationError } from '@/server/errors';
import { resolveVm } from '@/server/inventory/inventory';
import { ListRestorePointsInput, PointIdInput, RestoreDiskInput, VerifyPointInput } from './schemas';

export async function listRestorePoints({ ctx, input }: { ctx: ServiceContext; input: ListRestorePointsInput }) {
  requireRole(ctx, 'viewer');
  const f = ListRestorePointsInput.parse(input);
  const vmId = f.vm ? (await resolveVm(ctx, f.vm)).id : null;
  return ctx.db
    .select({
      id: restorePoints.id,
      vmId: restorePoints.vmId,
      vmName: restorePoints.vmName,
      createdAt: restorePoints.createdAt,
      consistency: restorePoints.consistency,
      full: restorePoints.full,
      transport: restorePoints.transport,
      disks: restorePoints.disks,
      logicalBytes: restorePoints.logicalBytes,
      bytesRead: restorePoints.bytesRead,
      storedBytesAdded: restorePoints.storedBytesAdded,
      status: restorePoints.status,
      jobId: restorePoints.jobId,
      storageUnitId: restorePoints.storageUnitId,
      storageUnitName: storageUnits.name,
    })
    .from(restorePoints)
    .leftJoin(storageUnits, eq(storageUnits.id, restorePoints.storageUnitId))
    .where(vmId ? eq(restorePoints.vmId, vmId) : undefined)
    .orderBy(desc(restorePoints.createdAt))
    .limit(f.limit);
}

export async function getRestorePoint({ ctx, input }: { ctx: ServiceContext; input: PointIdInput }) {
  requireRole(ctx, 'viewer');
  const { id } = PointIdInput.parse(input);
  const [rp] = await ctx.db.select().from(restorePoints).where(eq(restorePoints.id, id));
  if (!rp) throw new NotFoundError('Restore point', id);
  return rp;
}

/** Restore one disk of a point to a file on the server (sparse) and verify it; runs as a job. */
export async function startDiskRestore({ ctx, input }: { ctx: ServiceContext; input: RestoreDiskInput }) {
  requireRole(ctx, 'operator');
  const data = RestoreDiskInput.parse(input);
  const rp = await getRestorePoint({ ctx, input: { id: data.pointId } });
  const disk = rp.disks.find((d) => d.index === data.diskIndex);
  if (!disk) throw new NotFoundError('Disk', data.diskIndex, { pointId: rp.id, disks: rp.disks.map((d) => d.index) });
  const outPath = data.outPath ?? path.join(ctx.deps.config.dataDir, 'restores', `${rp.vmName}-${rp.id}-disk${disk.index}.raw`);
  const dir = path.dirname(outPath);
  if (data.outPath) {
    if (!fs.existsSync(dir)) throw new ValidationError('Output directory missing', { outPath: [`${dir} does not exist`] });
    if (fs.existsSync(outPath)) throw new ValidationError('Output exists', { outPath: [`${outPath} exists; restores never overwrite files`] });
  } else {
    fs.mkdirSync(dir, { recursive: true });
    fs.rmSync(outPath, { force: true });
  }
  const { job } = await enqueueJob(ctx.db, ctx.clock, {
    type: 'restore.disk',
    input: { pointId: rp.id, diskIndex: disk.index, outPath },
    vmId: rp.vmId,
    vmName: rp.vmName,
    storageUnitId: rp.storageUnitId,
    priority: 5,
    createdBy: actorName(ctx.actor),
  });
  return { job: { id: job.id, status: job.status }, outPath };
}

/** Restore every disk of a point as a hash stream and compare with the guest's view at the snapshot (lab oracle). */
export async function startVerify({ ctx, input }: { ctx: ServiceContext; input: VerifyPointInput }) {
  requireRole(ctx, 'operator');
  const data = VerifyPointInput.parse(input);
  const rp = await getRestorePoint({ ctx, input: { id: data.pointId } });
  const { job } = await enqueueJob(ctx.db, ctx.clock, {
    type: 'restore.verify',
    input: { pointId: rp.id },
    vmId: rp.vmId,
    vmName: rp.vmName,
    storageUnitId: rp.storageUnitId,
    priority: 5,
    createdBy: actorName(ctx.actor),
  });
  return { job: { id: job.id, status: job.status } };
}
