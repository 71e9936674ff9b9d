import { getRestorePoint, listRestorePoints, startDiskRestore, startVerify } from '@/server/restore/restore-points';
import { ListRestorePointsInput, PointIdInput, RestoreDiskInput, VerifyPointInput } from '@/server/restore/schemas';
import { protectedProcedure, roleProcedure, router } from '../trpc';

export const restoresRouter = router({
  listPoints: protectedProcedure.input(ListRestorePointsInput).query(({ ctx, input }) => listRestorePoints({ ctx: ctx.service, input })),
  getPoint: protectedProcedure.input(PointIdInput).query(({ ctx, input }) => getRestorePoint({ ctx: ctx.service, input })),
  restoreDisk: roleProcedure('operator').input(RestoreDiskInput).mutation(({ ctx, input }) => startDiskRestore({ ctx: ctx.service, input })),
  verify: roleProcedure('operator').input(VerifyPointInput).mutation(({ ctx, input }) => startVerify({ ctx: ctx.service, input })),
});
