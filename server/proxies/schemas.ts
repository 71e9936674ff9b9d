import { z } from 'zod';

export const BlacklistAddInput = z.object({ proxy: z.string().trim().min(1, 'Name a proxy') });
export type BlacklistAddInput = z.infer<typeof BlacklistAddInput>;

/** Removal is deliberate: `confirm` must repeat the proxy's name. */
export const BlacklistRemoveInput = z.object({
  proxy: z.string().trim().min(1, 'Name a proxy'),
  confirm: z.string().trim().min(1, "Type the proxy's name to confirm"),
});
export type BlacklistRemoveInput = z.infer<typeof BlacklistRemoveInput>;
