import { addProxyToBlacklist, listProxies, removeProxyFromBlacklist } from '@/server/proxies/proxies';
import { BlacklistAddInput, BlacklistRemoveInput } from '@/server/proxies/schemas';
import { protectedProcedure, roleProcedure, router } from '../trpc';

export const proxiesRouter = router({
  list: protectedProcedure.query(({ ctx }) => listProxies({ ctx: ctx.service })),
  blacklistAdd: roleProcedure('admin').input(BlacklistAddInput).mutation(({ ctx, input }) => addProxyToBlacklist({ ctx: ctx.service, input })),
  blacklistRemove: roleProcedure('admin').input(BlacklistRemoveInput).mutation(({ ctx, input }) => removeProxyFromBlacklist({ ctx: ctx.service, input })),
});
