import { z } from 'zod';

export const CreateStorageUnitInput = z.object({
  name: z.string().trim().min(1, 'Enter a name').max(80),
  path: z
    .string()
    .trim()
    .refine((p) => p.startsWith('/'), 'Give an absolute path on the server'),
  maxConcurrentJobs: z.number().int().min(1, 'At least 1').max(64).default(4),
  capacityBytes: z.number().int().positive().nullable().default(null),
});
export type CreateStorageUnitInput = z.input<typeof CreateStorageUnitInput>;
