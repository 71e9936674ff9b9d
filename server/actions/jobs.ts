'use server';
import { revalidatePath } from 'next/cache';
import { JobIdInput, StartBackupInput } from '@/server/jobs/schemas';
import { authAction } from './_client';

/** "Back up now": queues a backup.vm job through the engine's client. */
export const startBackupAction = authAction(StartBackupInput, 'operator', async ({ input, caller }) => {
  const r = await caller.jobs.startBackup(input);
  revalidatePath('/jobs');
  return r;
});

export const cancelJobAction = authAction(JobIdInput, 'operator', async ({ input, caller }) => {
  const r = await caller.jobs.cancel(input);
  revalidatePath(`/jobs/${input.id}`);
  return r;
});
