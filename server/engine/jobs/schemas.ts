import { z } from 'zod';

export const BackupVmJobInput = z.object({
  vmId: z.string().min(1),
  storageUnitId: z.string().uuid(),
  policyId: z.string().uuid().nullable().default(null),
  /** Why the job exists: "schedule", "manual", "chaos"… */
  trigger: z.string().default('manual'),
  /** Chaos harness only: skip cache/cluster coordination (proves the lab catches a careless engine). */
  coordination: z.boolean().default(true),
});
export type BackupVmJobInput = z.infer<typeof BackupVmJobInput>;

export const RestoreDiskJobInput = z.object({
  pointId: z.string().min(1),
  diskIndex: z.number().int().min(0),
  outPath: z.string().min(1),
});
export type RestoreDiskJobInput = z.infer<typeof RestoreDiskJobInput>;

export const VerifyPointJobInput = z.object({ pointId: z.string().min(1) });
export type VerifyPointJobInput = z.infer<typeof VerifyPointJobInput>;

export const PolicyRunJobInput = z.object({ policyId: z.string().uuid(), scheduledFor: z.number().nullable().default(null), trigger: z.string().default('schedule') });
export type PolicyRunJobInput = z.infer<typeof PolicyRunJobInput>;
