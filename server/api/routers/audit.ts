import { listAudit, ListAuditInput } from '@/server/audit/list';
import { protectedProcedure, router } from '../trpc';

export const auditRouter = router({
  list: protectedProcedure.input(ListAuditInput).query(({ ctx, input }) => listAudit({ ctx: ctx.service, input })),
});
