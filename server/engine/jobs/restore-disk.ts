import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import type { Queryable } from '@/db/client';
import { restorePoints } from '@/db/schema';
import { defineJob, defineStep, stepResult } from '../define';
import { NonRetryableError } from '../retry';
import { RestoreDiskJobInput } from './schemas';

interface ResolveResult {
  [k: string]: unknown;
  storageUnitId: string;
  snapshotId: string | null;
  vmName: string;
  sizeBytes: number;
}

async function resolvePoint(ctx: { db: Queryable }, pointId: string, diskIndex: number | null) {
  const [rp] = await ctx.db.select().from(restorePoints).where(eq(restorePoints.id, pointId));
  if (!rp) throw new NonRetryableError(`restore point ${pointId} not found`, 'NOT_FOUND');
  if (diskIndex !== null && !rp.disks.some((d) => d.index === diskIndex)) throw new NonRetryableError(`restore point ${pointId} has no disk ${diskIndex}`, 'NOT_FOUND');
  return rp;
}

const resolve = defineStep<RestoreDiskJobInput>({
  name: 'resolve',
  async run(ctx): Promise<ResolveResult> {
    const rp = await resolvePoint(ctx, ctx.input.pointId, ctx.input.diskIndex);
    const dir = path.dirname(ctx.input.outPath);
    if (!fs.existsSync(dir)) throw new NonRetryableError(`output directory ${dir} does not exist`, 'VALIDATION');
    return { storageUnitId: rp.storageUnitId, snapshotId: rp.snapshotId, vmName: rp.vmName, sizeBytes: rp.disks.find((d) => d.index === ctx.input.diskIndex)!.sizeBytes };
  },
});

const restore = defineStep<RestoreDiskJobInput>({
  name: 'restore',
  compensateIfStarted: true,
  async run(ctx) {
    const r = stepResult<ResolveResult>(ctx.results, 'resolve');
    const repo = await ctx.deps.storage.repository(r.storageUnitId);
    ctx.progress({ phase: 'restore', bytesTotal: r.sizeBytes, bytesDone: 0, startedAt: ctx.clock.now() });
    const out = await repo.restoreDisk({
      pointId: ctx.input.pointId,
      diskIndex: ctx.input.diskIndex,
      outPath: ctx.input.outPath,
      signal: ctx.signal,
      onProgress: (bytesDone) => ctx.progress({ phase: 'restore', bytesTotal: r.sizeBytes, bytesDone }),
    });
    await ctx.log('info', `Restored disk ${ctx.input.diskIndex} of ${r.vmName} to ${ctx.input.outPath} (${out.bytesWritten} bytes written, sparse)`, { digest: out.digest });
    return { ...out };
  },
  async compensate(ctx) {
    // A half-written restore is never left behind.
    fs.rmSync(ctx.input.outPath, { force: true });
    return { removed: ctx.input.outPath };
  },
});

const verify = defineStep<RestoreDiskJobInput>({
  name: 'verify',
  async run(ctx) {
    const r = stepResult<ResolveResult>(ctx.results, 'resolve');
    const restored = stepResult<{ digest: string }>(ctx.results, 'restore');
    const lab = ctx.deps.lab;
    if (!lab || !r.snapshotId) {
      await ctx.log('info', 'Every chunk was verified against its SHA-256 while restoring (no oracle for this VM)');
      return { verified: true, method: 'chunk-hashes', digest: restored.digest, expectedDigest: null };
    }
    const oracle = await lab.oracle(r.snapshotId, ctx.input.diskIndex);
    if (!oracle) return { verified: false, method: 'oracle', digest: restored.digest, expectedDigest: null, reason: 'the lab has no record of this snapshot' };
    const verified = oracle.digest === restored.digest;
    await ctx.log(verified ? 'info' : 'error', verified ? 'Restored image matches what the guest saw at the snapshot (oracle)' : 'Restored image DIFFERS from what the guest saw at the snapshot', {
      digest: restored.digest,
      expected: oracle.digest,
    });
    return { verified, method: 'oracle', digest: restored.digest, expectedDigest: oracle.digest };
  },
});

export const restoreDiskJob = defineJob<RestoreDiskJobInput>({
  type: 'restore.disk',
  version: '1',
  input: RestoreDiskJobInput,
  steps: [resolve, restore, verify],
  onRecovery: 'resume',
  result(results, input) {
    const r = stepResult<{ bytesWritten: number; digest: string; sizeBytes: number }>(results, 'restore');
    const v = stepResult<{ verified: boolean; method: string; expectedDigest: string | null }>(results, 'verify');
    return { outPath: input.outPath, pointId: input.pointId, diskIndex: input.diskIndex, bytesWritten: r.bytesWritten, sizeBytes: r.sizeBytes, digest: r.digest, verified: v.verified, verifyMethod: v.method, expectedDigest: v.expectedDigest };
  },
});

export { resolvePoint };
