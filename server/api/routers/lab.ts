import { injectLabFault, InjectFaultInput, inspectLab, LabEventsInput, listLabEvents } from '@/server/lab/lab';
import { protectedProcedure, roleProcedure, router } from '../trpc';

export const labRouter = router({
  inspect: protectedProcedure.query(({ ctx }) => inspectLab({ ctx: ctx.service })),
  events: protectedProcedure.input(LabEventsInput).query(({ ctx, input }) => listLabEvents({ ctx: ctx.service, input })),
  injectFault: roleProcedure('admin').input(InjectFaultInput).mutation(({ ctx, input }) => injectLabFault({ ctx: ctx.service, input })),
});
