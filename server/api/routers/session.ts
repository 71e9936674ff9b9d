import { roleOf } from '@/server/context';
import { publicProcedure, router } from '../trpc';

export const sessionRouter = router({
  me: publicProcedure.query(({ ctx }) => {
    const a = ctx.service.actor;
    if (a.kind === 'user' || a.kind === 'apiToken') return { signedIn: true as const, kind: a.kind, email: a.email, name: a.name, role: a.role };
    if (a.kind === 'anonymous') return { signedIn: false as const };
    return { signedIn: true as const, kind: a.kind, email: null, name: a.kind, role: roleOf(a) };
  }),
});
