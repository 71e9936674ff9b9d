import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { user } from '@/db/schema';
import type { Db } from '@/db/client';
import { ROLES, type Actor, type Role } from '@/server/context';
import { ConflictError } from '@/server/errors';
import type { Auth } from './auth';

export const CreateUserInput = z.object({
  email: z.string().email('Enter a valid e-mail address'),
  name: z.string().min(1, 'Enter a name').max(100),
  password: z.string().min(8, 'Passwords have at least 8 characters').max(200),
  role: z.enum(ROLES),
});
export type CreateUserInput = z.infer<typeof CreateUserInput>;

function asRole(v: unknown): Role {
  return (ROLES as readonly string[]).includes(v as string) ? (v as Role) : 'viewer';
}

/** Creates a user with a password, through the auth library's own hashing and account model. */
export async function createUser(auth: Auth, db: Db, raw: CreateUserInput): Promise<{ id: string; email: string }> {
  const input = CreateUserInput.parse(raw);
  const [existing] = await db.select({ id: user.id }).from(user).where(eq(user.email, input.email.toLowerCase()));
  if (existing) throw new ConflictError(`a user with e-mail ${input.email} exists`);
  const ctx = await auth.$context;
  const hash = await ctx.password.hash(input.password);
  const created = await ctx.internalAdapter.createUser({ email: input.email.toLowerCase(), name: input.name, emailVerified: true, role: input.role }, { method: 'admin' });
  await ctx.internalAdapter.linkAccount({ userId: created.id, providerId: 'credential', accountId: created.id, password: hash });
  return { id: created.id, email: created.email };
}

export async function countUsers(db: Db): Promise<number> {
  const rows = await db.select({ id: user.id }).from(user).limit(1);
  return rows.length;
}

export function generatePassword(): string {
  return randomBytes(12).toString('base64url');
}

/** Creates an API key for a user (the CLI's token). The key is shown once; only its hash is stored. */
export async function createApiToken(auth: Auth, userId: string, name: string): Promise<string> {
  const created = await auth.api.createApiKey({ body: { userId, name } });
  return created.key;
}

/** Who is calling: a session cookie, or an API key as `Authorization: Bearer` / `x-api-key`. */
export async function resolveActor(auth: Auth, db: Db, headers: Headers): Promise<Actor> {
  const bearer = headers.get('authorization')?.match(/^Bearer\s+(.+)$/i)?.[1] ?? headers.get('x-api-key');
  if (bearer) {
    const res = await auth.api.verifyApiKey({ body: { key: bearer } }).catch(() => null);
    if (!res?.valid || !res.key) return { kind: 'anonymous' };
    const [u] = await db.select().from(user).where(eq(user.id, res.key.referenceId));
    if (!u) return { kind: 'anonymous' };
    return { kind: 'apiToken', tokenId: res.key.id, userId: u.id, email: u.email, name: u.name, role: asRole(u.role) };
  }
  const s = await auth.api.getSession({ headers }).catch(() => null);
  if (!s) return { kind: 'anonymous' };
  const u = s.user as { id: string; email: string; name: string; role?: unknown };
  return { kind: 'user', userId: u.id, email: u.email, name: u.name, role: asRole(u.role) };
}
