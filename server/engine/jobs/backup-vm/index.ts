import { defineJob, stepResult } from '../../define';
import { BackupVmJobInput } from '../schemas';
import { plan, type PlanResult } from './plan';
import { record } from './record';
import { release, type ReleaseResult } from './release';
import { snapshot, type SnapshotResult } from './snapshot';
import { transfer, type TransferResult } from './transfer';

/**
 * One VM backup as a saga (see DESIGN.md): plan → snapshot → transfer → release → record.
 * Each step is memoised; a crashed job resumes from its first unfinished step, and a failed one
 * compensates in reverse (the snapshot is removed).
 */
export const backupVmJob = defineJob<BackupVmJobInput>({
  type: 'backup.vm',
  version: '1',
  input: BackupVmJobInput,
  steps: [plan, snapshot, transfer, release, record],
  onRecovery: 'resume',
  result(results) {
    const p = stepResult<PlanResult>(results, 'plan');
    const s = stepResult<SnapshotResult>(results, 'snapshot');
    const t = stepResult<TransferResult>(results, 'transfer');
    const r = stepResult<ReleaseResult>(results, 'release');
    return {
      restorePointId: t.pointId,
      vmName: p.vm.name,
      full: t.full,
      consistency: s.snapshot.consistency,
      transport: p.transport,
      proxy: p.proxyName,
      bytesRead: t.bytesRead,
      diskBytes: p.vm.disks.reduce((a, d) => a + d.sizeBytes, 0),
      logicalBytes: t.logicalBytes,
      storedBytesAdded: t.storedBytesAdded,
      transferSeconds: t.seconds,
      snapshotLifetimeMs: r.removal.lifetimeMs,
      redoBytes: r.removal.redoBytes,
      stunMs: r.removal.stunMs,
    };
  },
});
