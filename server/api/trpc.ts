import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { ZodError } from 'zod';
import { hasRole, type Role, type ServiceContext } from '@/server/context';
import { isConnectorError } from '@/server/connectors/types';
import { isDomainError, isExpectedError } from '@/server/errors';
import { toTRPCError } from './errors';

export interface TrpcContext {
  service: ServiceContext;
}

const t = initTRPC.context<TrpcContext>().create({
  transformer: superjson,
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    const zodError = cause instanceof ZodError ? cause.flatten() : null;
    const domain = isDomainError(cause) ? cause : null;
    return {
      ...shape,
      data: {
        ...shape.data,
        domainCode: domain?.code ?? (isConnectorError(cause) ? cause.code : null),
        fieldErrors: zodError?.fieldErrors ?? domain?.fieldErrors ?? null,
        details: domain?.details ?? null,
      },
    };
  },
});

/** Maps domain errors once, and logs unexpected ones (expected 4xx are not errors). */
const errorMapping = t.middleware(async ({ ctx, next, path }) => {
  const res = await next();
  if (!res.ok) {
    const cause = res.error.cause;
    if (cause instanceof ZodError) throw new TRPCError({ code: 'BAD_REQUEST', message: cause.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; '), cause });
    const mapped = cause && !(cause instanceof TRPCError) ? toTRPCError(cause) : res.error;
    if (mapped.code === 'INTERNAL_SERVER_ERROR' && !isExpectedError(cause)) ctx.service.logger.error({ err: cause ?? res.error, path }, 'procedure failed');
    throw mapped;
  }
  return res;
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure.use(errorMapping);

/** Signed in (session or API token), whatever the role. */
export const protectedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (ctx.service.actor.kind === 'anonymous') throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in first' });
  return next({ ctx });
});

/** At least this role (viewer < operator < admin). */
export const roleProcedure = (role: Role) =>
  protectedProcedure.use(({ ctx, next }) => {
    if (!hasRole(ctx.service.actor, role)) throw new TRPCError({ code: 'FORBIDDEN', message: `This needs the ${role} role` });
    return next({ ctx });
  });
