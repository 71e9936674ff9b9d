import { z } from 'zod';
import { JOB_STATUSES } from '@/server/engine/statuses';

export const ListJobsInput = z.object({
  status: z.array(z.enum(JOB_STATUSES)).optional(),
  type: z.string().optional(),
  /** VM name (substring, case-insensitive) or id. */
  vm: z.string().trim().optional(),
  policyId: z.string().uuid().optional(),
  from: z.coerce.date().optional(),
  to: z.coerce.date().optional(),
  limit: z.number().int().min(1).max(500).default(100),
  /** Jobs created before this id's creation time (pagination). */
  before: z.coerce.date().optional(),
});
export type ListJobsInput = z.input<typeof ListJobsInput>;

export const JobIdInput = z.object({ id: z.string().uuid('Not a job id') });
export type JobIdInput = z.infer<typeof JobIdInput>;

export const StartBackupInput = z.object({
  /** VM id, UUID or name. */
  vm: z.string().trim().min(1, 'Name a VM'),
  storageUnitId: z.string().uuid().optional(),
  policyId: z.string().uuid().optional(),
});
export type StartBackupInput = z.infer<typeof StartBackupInput>;
