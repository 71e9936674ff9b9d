import { CreateStorageUnitInput } from '@/server/storage/schemas';
import { createStorageUnit, listStorageUnits } from '@/server/storage/storage-units';
import { protectedProcedure, roleProcedure, router } from '../trpc';

export const storageUnitsRouter = router({
  list: protectedProcedure.query(({ ctx }) => listStorageUnits({ ctx: ctx.service })),
  create: roleProcedure('admin')
    .input(CreateStorageUnitInput)
    .mutation(({ ctx, input }) => createStorageUnit({ ctx: ctx.service, input, initRepository: ctx.service.deps.storage.init })),
});
