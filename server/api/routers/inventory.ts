import { getInventoryTree, getVmDetail, VmRefInput } from '@/server/inventory/inventory';
import { protectedProcedure, router } from '../trpc';

export const inventoryRouter = router({
  tree: protectedProcedure.query(({ ctx }) => getInventoryTree({ ctx: ctx.service })),
  vm: protectedProcedure.input(VmRefInput).query(({ ctx, input }) => getVmDetail({ ctx: ctx.service, input })),
});
