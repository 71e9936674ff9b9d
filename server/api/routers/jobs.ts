import { cancelJob, getJob, listJobs, startBackup } from '@/server/jobs/jobs';
import { JobIdInput, ListJobsInput, StartBackupInput } from '@/server/jobs/schemas';
import { protectedProcedure, roleProcedure, router } from '../trpc';

export const jobsRouter = router({
  list: protectedProcedure.input(ListJobsInput).query(({ ctx, input }) => listJobs({ ctx: ctx.service, input })),
  get: protectedProcedure.input(JobIdInput).query(({ ctx, input }) => getJob({ ctx: ctx.service, input })),
  startBackup: roleProcedure('operator').input(StartBackupInput).mutation(({ ctx, input }) => startBackup({ ctx: ctx.service, input })),
  cancel: roleProcedure('operator').input(JobIdInput).mutation(({ ctx, input }) => cancelJob({ ctx: ctx.service, input })),
});
