import { createJobRegistry } from '../define';
import { backupVmJob } from './backup-vm';
import { policyRunJob } from './policy-run';
import { restoreDiskJob } from './restore-disk';
import { verifyPointJob } from './verify-point';

export const jobRegistry = createJobRegistry([backupVmJob, restoreDiskJob, verifyPointJob, policyRunJob]);
export { backupVmJob, restoreDiskJob, verifyPointJob, policyRunJob };
