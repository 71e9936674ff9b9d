import { defineJob, stepResult } from '../../define';
import { BackupVmJobInput } from '../schemas';
import { cache, uncache, type CacheResult } from './cache';
import { lease, unlease, type LeaseResult } from './lease';
import { pin, unpin } from './pin';
import { plan, type PlanResult } from './plan';
import { precheck, type PrecheckResult } from './precheck';
import { record } from './record';
import { release, type ReleaseResult } from './release';
import { snapshot, type SnapshotResult } from './snapshot';
import { transfer, type TransferResult } from './transfer';

/**
 * One VM backup as a saga (DESIGN.md): plan → lease → precheck → pin → cache barrier → snapshot →
 * write-back back on → transfer → release (consolidate) → unpin → record → unlease. Every step is
 * memoised; a crashed job resumes from its first unfinished step, a failed one compensates in
 * reverse: snapshot removed, DRS unpinned, cache policy restored, slots released.
 */
export const backupVmJob = defineJob<BackupVmJobInput>({
  type: 'backup.vm',
  version: '2',
  input: BackupVmJobInput,
  steps: [plan, lease, precheck, pin, cache, snapshot, uncache, transfer, release, unpin, record, unlease],
  onRecovery: 'resume',
  describe: (input) => ({ vmId: input.vmId, storageUnitId: input.storageUnitId, ...(input.policyId ? { policyId: input.policyId } : {}) }),
  result(results) {
    const p = stepResult<PlanResult>(results, 'plan');
    const l = stepResult<LeaseResult>(results, 'lease');
    const pre = stepResult<PrecheckResult>(results, 'precheck');
    const c = stepResult<CacheResult>(results, 'cache');
    const s = stepResult<SnapshotResult>(results, 'snapshot');
    const u = stepResult<{ writeThroughWindowMs: number }>(results, 'uncache');
    const t = stepResult<TransferResult>(results, 'transfer');
    const r = stepResult<ReleaseResult>(results, 'release');
    return {
      restorePointId: t.pointId,
      vmName: p.vm.name,
      full: t.full,
      consistency: s.snapshot.consistency,
      transport: l.transport,
      proxy: l.proxyName,
      bytesRead: t.bytesRead,
      diskBytes: p.vm.disks.reduce((a, d) => a + d.sizeBytes, 0),
      logicalBytes: t.logicalBytes,
      storedBytesAdded: t.storedBytesAdded,
      transferSeconds: t.seconds,
      writeBackBarrier: c.barrier,
      destageMs: c.destageMs,
      writeThroughWindowMs: u.writeThroughWindowMs,
      predictedStunMs: pre.predictedStunMs,
      snapshotLifetimeMs: r.removal.lifetimeMs,
      redoBytes: r.removal.redoBytes,
      consolidationPasses: r.removal.consolidationPasses,
      stunMs: r.removal.stunMs,
      heartbeatRaised: r.removal.heartbeatRaised,
    };
  },
});
