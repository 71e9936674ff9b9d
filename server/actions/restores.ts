'use server';
import { RestoreDiskInput, VerifyPointInput } from '@/server/restore/schemas';
import { authAction } from './_client';

/** Restore one disk of a restore point (as a job, verified against what the guest saw). */
export const restoreDiskAction = authAction(RestoreDiskInput, 'operator', async ({ input, caller }) => caller.restores.restoreDisk(input));

export const verifyPointAction = authAction(VerifyPointInput, 'operator', async ({ input, caller }) => caller.restores.verify(input));
