import { defineJob, defineStep, stepResult } from '../define';
import { resolvePoint } from './restore-disk';
import { VerifyPointJobInput } from './schemas';

interface DiskVerdict {
  index: number;
  digest: string;
  expectedDigest: string | null;
  match: boolean | null;
}

/** Every disk of the point restored (as a digest stream) and compared with what the guest saw (the lab's oracle). */
const digestDisks = defineStep<VerifyPointJobInput>({
  name: 'verify',
  async run(ctx) {
    const rp = await resolvePoint(ctx, ctx.input.pointId, null);
    const repo = await ctx.deps.storage.repository(rp.storageUnitId);
    const total = rp.disks.reduce((a, d) => a + d.sizeBytes, 0);
    let done = 0;
    ctx.progress({ phase: 'verify', bytesTotal: total, bytesDone: 0, startedAt: ctx.clock.now() });
    const disks: DiskVerdict[] = [];
    for (const d of rp.disks) {
      const h = await repo.digestDisk({ pointId: rp.id, diskIndex: d.index, signal: ctx.signal });
      const oracle = ctx.deps.lab && rp.snapshotId ? await ctx.deps.lab.oracle(rp.snapshotId, d.index) : null;
      disks.push({ index: d.index, digest: h.digest, expectedDigest: oracle?.digest ?? null, match: oracle ? oracle.digest === h.digest : null });
      done += d.sizeBytes;
      ctx.progress({ phase: 'verify', bytesTotal: total, bytesDone: done });
    }
    const withOracle = disks.filter((d) => d.match !== null);
    const consistent = withOracle.length === disks.length && disks.every((d) => d.match === true);
    await ctx.log(consistent ? 'info' : 'error', consistent ? `All ${disks.length} disks match the oracle` : `Restore point ${rp.id} is NOT the point-in-time image`, { disks });
    return { pointId: rp.id, vmName: rp.vmName, consistency: rp.consistency, consistent, oracle: withOracle.length > 0, disks };
  },
});

export const verifyPointJob = defineJob<VerifyPointJobInput>({
  type: 'restore.verify',
  version: '1',
  input: VerifyPointJobInput,
  steps: [digestDisks],
  onRecovery: 'resume',
  result: (results) => stepResult(results, 'verify'),
});
