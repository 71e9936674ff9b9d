import type { Config } from '@/env';
import type { Queryable } from '@/db/client';
import type { Connectors } from '@/server/connectors/types';
import type { Clock } from '@/server/lib/clock';
import type { Logger } from '@/server/lib/logger';
import type { StorageRegistry } from '@/server/storage/registry';
import type { LabHandle } from '@/server/lab-handle';
import type { Auth } from '@/server/auth/auth';
import { ForbiddenError, UnauthorizedError } from './errors';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export type Actor =
  | { kind: 'user'; userId: string; email: string; name: string; role: Role }
  | { kind: 'apiToken'; tokenId: string; userId: string; email: string; name: string; role: Role }
  | { kind: 'system'; component: string; jobId?: string }
  /** The local CLI that owns the data directory itself (filesystem access = full control). */
  | { kind: 'cli' }
  | { kind: 'anonymous' };

/** Everything a domain function may use besides the database. Injected, never imported as singletons. */
export interface ServiceDeps {
  config: Config;
  /** The auth library (user accounts); null where no accounts are managed (chaos harness). */
  auth: Auth | null;
  connectors: Connectors;
  storage: StorageRegistry;
  lab: LabHandle | null;
}

export interface ServiceContext {
  actor: Actor;
  db: Queryable;
  logger: Logger;
  requestId: string;
  clock: Clock;
  deps: ServiceDeps;
  /** Set inside withTransaction so nested calls reuse the transaction. */
  inTransaction?: boolean;
}

export function roleOf(actor: Actor): Role | null {
  switch (actor.kind) {
    case 'user':
    case 'apiToken':
      return actor.role;
    case 'system':
    case 'cli':
      return 'admin';
    case 'anonymous':
      return null;
  }
}

export function hasRole(actor: Actor, needed: Role): boolean {
  const role = roleOf(actor);
  return role !== null && ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** First thing every domain function does. */
export function requireRole(ctx: Pick<ServiceContext, 'actor'>, needed: Role): void {
  const role = roleOf(ctx.actor);
  if (role === null) throw new UnauthorizedError();
  if (!hasRole(ctx.actor, needed)) throw new ForbiddenError(`This needs the ${needed} role; you are ${role}`);
}

export function actorName(actor: Actor): string {
  switch (actor.kind) {
    case 'user':
    case 'apiToken':
      return actor.email;
    case 'system':
      return actor.jobId ? `engine (job ${actor.jobId})` : actor.component;
    case 'cli':
      return 'local cli';
    case 'anonymous':
      return 'anonymous';
  }
}

export function actorId(actor: Actor): string | null {
  return actor.kind === 'user' || actor.kind === 'apiToken' ? actor.userId : null;
}

/** Runs `fn` in a transaction, reusing the caller's when there is one, so domain functions compose. */
export async function withTransaction<T>(ctx: ServiceContext, fn: (tctx: ServiceContext) => Promise<T>): Promise<T> {
  if (ctx.inTransaction) return fn(ctx);
  return ctx.db.transaction(async (tx) => fn({ ...ctx, db: tx, inTransaction: true }));
}
