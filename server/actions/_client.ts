import 'server-only';
import { TRPCError } from '@trpc/server';
import { headers } from 'next/headers';
import type { z } from 'zod';
import { hasRole, type Actor, type Role } from '@/server/context';
import { getRuntime } from '@/server/runtime-handle';

export type ActionResult<T> = { ok: true; data: T } | { ok: false; error: { code: string; message: string; fieldErrors?: Record<string, string[]> } };

type Caller = ReturnType<ReturnType<typeof getRuntime>['caller']>;

/**
 * The server actions' builder: parse with the operation's own schema, resolve the actor from the
 * request, check the role, run through the API caller (which calls the domain and the engine's
 * client), and return a typed result instead of throwing.
 */
export function authAction<S extends z.ZodType, T>(schema: S, role: Role, fn: (args: { input: z.infer<S>; caller: Caller; actor: Actor }) => Promise<T>) {
  return async (raw: z.input<S>): Promise<ActionResult<T>> => {
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      const fieldErrors: Record<string, string[]> = {};
      for (const i of parsed.error.issues) (fieldErrors[i.path.join('.') || '_'] ??= []).push(i.message);
      return { ok: false, error: { code: 'VALIDATION', message: 'Check the highlighted fields', fieldErrors } };
    }
    const rt = getRuntime();
    const actor = await rt.actorFromHeaders(await headers());
    if (actor.kind === 'anonymous') return { ok: false, error: { code: 'UNAUTHORIZED', message: 'Sign in first' } };
    if (!hasRole(actor, role)) return { ok: false, error: { code: 'FORBIDDEN', message: `This needs the ${role} role` } };
    try {
      return { ok: true, data: await fn({ input: parsed.data, caller: rt.caller(actor), actor }) };
    } catch (e) {
      if (e instanceof TRPCError || (e as { name?: string }).name === 'TRPCError') {
        const cause = (e as TRPCError).cause as { fieldErrors?: Record<string, string[]> } | undefined;
        return { ok: false, error: { code: (e as TRPCError).code, message: (e as Error).message, ...(cause?.fieldErrors ? { fieldErrors: cause.fieldErrors } : {}) } };
      }
      return { ok: false, error: { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) } };
    }
  };
}
