import { z } from 'zod';
import { cronError, timezoneError } from './schedule';

export const TransportModeSchema = z.enum(['directsan', 'hotadd', 'nbd']);
export const QuiesceModeSchema = z.enum(['required', 'preferred', 'off']);

export const VmSelectionSchema = z
  .object({
    names: z.array(z.string().trim().min(1)).default([]),
    folders: z.array(z.string().trim().regex(/^\//, 'Folders start with "/"')).default([]),
    tags: z.array(z.string().trim().min(1)).default([]),
    namePattern: z
      .string()
      .trim()
      .max(200)
      .nullable()
      .default(null)
      .transform((v) => (v === '' ? null : v)),
  })
  .refine((s) => s.names.length > 0 || s.folders.length > 0 || s.tags.length > 0 || !!s.namePattern, {
    message: 'Select at least one VM: by name, folder, tag or name pattern',
    path: ['namePattern'],
  });

/** How a policy's backups run. Defaults protect production. */
export const PolicySettingsSchema = z.object({
  transportOrder: z
    .array(TransportModeSchema)
    .min(1, 'Allow at least one transport mode')
    .refine((a) => new Set(a).size === a.length, 'Each transport mode once')
    .default(['directsan', 'hotadd', 'nbd']),
  quiesce: QuiesceModeSchema.default('preferred'),
  /** Longest wait for a write-back VM to become clean before its snapshot. */
  writeBackTimeoutSec: z.number().int().min(5).max(3600).default(300),
  /** May the engine add a HotAdd proxy to the cache blacklist itself (audited)? */
  allowBlacklistAdd: z.boolean().default(false),
  /** Raise a failover cluster's heartbeat threshold during consolidation, and put it back after. */
  raiseHeartbeatThreshold: z.boolean().default(false),
  /** Concurrent VM backups of this policy. */
  maxConcurrentVms: z.number().int().min(1).max(64).default(4),
});
export type PolicySettings = z.infer<typeof PolicySettingsSchema>;

const PolicyFields = z.object({
  name: z.string().trim().min(1, 'Enter a name').max(80),
  description: z.string().trim().max(500).default(''),
  enabled: z.boolean().default(true),
  schedule: z.string().trim().min(1, 'Enter a schedule'),
  timezone: z.string().trim().default('UTC'),
  selection: VmSelectionSchema,
  storageUnitId: z.string().uuid('Choose a storage unit'),
  settings: PolicySettingsSchema.default(PolicySettingsSchema.parse({})),
});

function refineSchedule<T extends z.ZodType<{ schedule?: string; timezone?: string }>>(schema: T) {
  return schema.superRefine((p, ctx) => {
    if (p.timezone !== undefined) {
      const tzErr = timezoneError(p.timezone);
      if (tzErr) ctx.addIssue({ code: 'custom', message: tzErr, path: ['timezone'] });
    }
    if (p.schedule !== undefined) {
      const err = cronError(p.schedule, p.timezone && !timezoneError(p.timezone) ? p.timezone : 'UTC');
      if (err) ctx.addIssue({ code: 'custom', message: err, path: ['schedule'] });
    }
  });
}

export const CreatePolicyInput = refineSchedule(PolicyFields);
export type CreatePolicyInput = z.input<typeof CreatePolicyInput>;

export const UpdatePolicyInput = refineSchedule(PolicyFields.partial().extend({ id: z.string().uuid() }));
export type UpdatePolicyInput = z.input<typeof UpdatePolicyInput>;

export const PolicyIdInput = z.object({ id: z.string().uuid() });
export type PolicyIdInput = z.infer<typeof PolicyIdInput>;

export const PreviewSelectionInput = z.object({ selection: VmSelectionSchema });
export type PreviewSelectionInput = z.input<typeof PreviewSelectionInput>;
