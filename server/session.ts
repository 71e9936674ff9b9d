import { headers } from 'next/headers';
import { redirect } from 'next/navigation';
import type { Actor, Role } from './context';
import { getRuntime } from './runtime-handle';

/** For server components: who is signed in (redirects to sign-in when nobody is). */
export async function requireSignedIn(next?: string): Promise<Extract<Actor, { kind: 'user' | 'apiToken' }>> {
  const actor = await getRuntime().actorFromHeaders(await headers());
  if (actor.kind !== 'user' && actor.kind !== 'apiToken') redirect(next ? `/sign-in?next=${encodeURIComponent(next)}` : '/sign-in');
  return actor;
}

const ORDER: Role[] = ['viewer', 'operator', 'admin'];

export function roleAtLeast(role: Role, needed: Role): boolean {
  return ORDER.indexOf(role) >= ORDER.indexOf(needed);
}
