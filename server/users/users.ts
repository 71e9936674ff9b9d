import { asc, eq } from 'drizzle-orm';
import type { Db } from '@/db/client';
import { user } from '@/db/schema';
import { recordAudit } from '@/server/audit/record';
import { createUser } from '@/server/auth/users';
import { requireRole, type ServiceContext } from '@/server/context';
import { NotFoundError, PreconditionError } from '@/server/errors';
import { CreateUserInput, SetRoleInput } from './schemas';

export async function listUsers({ ctx }: { ctx: ServiceContext }) {
  requireRole(ctx, 'admin');
  return ctx.db.select({ id: user.id, email: user.email, name: user.name, role: user.role, createdAt: user.createdAt }).from(user).orderBy(asc(user.createdAt));
}

/** Admins create accounts (sign-up is closed); the password is hashed by the auth library. */
export async function createUserAccount({ ctx, input }: { ctx: ServiceContext; input: CreateUserInput }) {
  requireRole(ctx, 'admin');
  const auth = ctx.deps.auth;
  if (!auth) throw new PreconditionError('This process manages no user accounts');
  const data = CreateUserInput.parse(input);
  const created = await createUser(auth, ctx.db as Db, data);
  await recordAudit(ctx, { action: 'user.create', targetKind: 'user', targetId: created.id, targetName: created.email, details: { role: data.role } });
  return { id: created.id, email: created.email, role: data.role };
}

export async function setUserRole({ ctx, input }: { ctx: ServiceContext; input: SetRoleInput }) {
  requireRole(ctx, 'admin');
  const { userId, role } = SetRoleInput.parse(input);
  const [u] = await ctx.db.select().from(user).where(eq(user.id, userId));
  if (!u) throw new NotFoundError('User', userId);
  if (u.role === 'admin' && role !== 'admin') {
    const admins = await ctx.db.select({ id: user.id }).from(user).where(eq(user.role, 'admin'));
    if (admins.length <= 1) throw new PreconditionError('This is the last admin: make someone else admin first');
  }
  await ctx.db.update(user).set({ role, updatedAt: new Date(ctx.clock.now()) }).where(eq(user.id, userId));
  await recordAudit(ctx, { action: 'user.setRole', targetKind: 'user', targetId: userId, targetName: u.email, details: { from: u.role, to: role } });
  return { id: userId, role };
}
