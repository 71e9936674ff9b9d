import { getOverview } from '@/server/overview/overview';
import { protectedProcedure, router } from '../trpc';

export const overviewRouter = router({
  get: protectedProcedure.query(({ ctx }) => getOverview({ ctx: ctx.service })),
});
