import { z } from 'zod';

export const ListRestorePointsInput = z.object({
  /** VM id, UUID or name. */
  vm: z.string().trim().min(1).optional(),
  limit: z.number().int().min(1).max(1000).default(200),
});
export type ListRestorePointsInput = z.input<typeof ListRestorePointsInput>;

export const PointIdInput = z.object({ id: z.string().trim().min(1, 'Name a restore point') });
export type PointIdInput = z.infer<typeof PointIdInput>;

export const RestoreDiskInput = z.object({
  pointId: z.string().trim().min(1, 'Name a restore point'),
  diskIndex: z.number().int().min(0, 'Disk numbers start at 0'),
  /** Absolute path on the server; default: the data directory's restores/ folder. */
  outPath: z
    .string()
    .trim()
    .refine((p) => p.startsWith('/'), 'Give an absolute path')
    .optional(),
});
export type RestoreDiskInput = z.infer<typeof RestoreDiskInput>;

export const VerifyPointInput = z.object({ pointId: z.string().trim().min(1, 'Name a restore point') });
export type VerifyPointInput = z.infer<typeof VerifyPointInput>;
