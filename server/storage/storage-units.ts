import fs from 'node:fs';
import { asc, eq, sql } from 'drizzle-orm';
import { restorePoints, storageUnits } from '@/db/schema';
import { recordAudit } from '@/server/audit/record';
import { requireRole, withTransaction, type ServiceContext } from '@/server/context';
import { ValidationError, errorMessage } from '@/server/errors';
import type { RepoStats } from '@/server/repository/types';
import { CreateStorageUnitInput } from './schemas';

const statsCache = new Map<string, { at: number; stats: RepoStats }>();

async function cachedStats(ctx: ServiceContext, id: string): Promise<RepoStats | null> {
  const hit = statsCache.get(id);
  if (hit && Date.now() - hit.at < 10_000) return hit.stats;
  try {
    const stats = await (await ctx.deps.storage.repository(id)).stats();
    statsCache.set(id, { at: Date.now(), stats });
    return stats;
  } catch (e) {
    ctx.logger.warn({ err: e, storageUnitId: id }, 'storage unit stats unavailable');
    return null;
  }
}

function freeBytes(p: string): number | null {
  try {
    const s = fs.statfsSync(p);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

export async function listStorageUnits({ ctx }: { ctx: ServiceContext }) {
  requireRole(ctx, 'viewer');
  const units = await ctx.db.select().from(storageUnits).orderBy(asc(storageUnits.name));
  const counts = await ctx.db
    .select({ id: restorePoints.storageUnitId, n: sql<number>`count(*)::int` })
    .from(restorePoints)
    .groupBy(restorePoints.storageUnitId);
  const out = [];
  for (const u of units) {
    const stats = await cachedStats(ctx, u.id);
    out.push({
      ...u,
      stats,
      freeBytes: freeBytes(u.path),
      restorePoints: counts.find((c) => c.id === u.id)?.n ?? 0,
      error: stats ? null : 'The repository could not be read; check that the path is mounted',
    });
  }
  return out;
}

/** Adds a filesystem storage unit; the repository is initialised in the directory (which must be empty or absent). */
export async function createStorageUnit({ ctx, input, initRepository }: { ctx: ServiceContext; input: CreateStorageUnitInput; initRepository: (path: string) => Promise<void> }) {
  requireRole(ctx, 'admin');
  const data = CreateStorageUnitInput.parse(input);
  const [byName] = await ctx.db.select({ id: storageUnits.id }).from(storageUnits).where(eq(storageUnits.name, data.name));
  if (byName) throw new ValidationError('Name taken', { name: [`A storage unit named "${data.name}" exists`] });
  const [byPath] = await ctx.db.select({ id: storageUnits.id }).from(storageUnits).where(eq(storageUnits.path, data.path));
  if (byPath) throw new ValidationError('Path taken', { path: ['Another storage unit uses this directory'] });
  if (fs.existsSync(data.path) && fs.readdirSync(data.path).length > 0) {
    throw new ValidationError('Directory not empty', { path: ['The directory exists and is not empty; choose an empty or new directory'] });
  }
  try {
    await initRepository(data.path);
  } catch (e) {
    throw new ValidationError('Cannot create repository', { path: [errorMessage(e)] });
  }
  return withTransaction(ctx, async (tctx) => {
    const [row] = await tctx.db.insert(storageUnits).values({ ...data, createdAt: new Date(tctx.clock.now()), updatedAt: new Date(tctx.clock.now()) }).returning();
    await recordAudit(tctx, { action: 'storageUnit.create', targetKind: 'storageUnit', targetId: row!.id, targetName: row!.name, details: { path: data.path } });
    return row!;
  });
}

export { cachedStats };
