'use client';
import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '@/components/providers/trpc';

const ORDER = ['viewer', 'operator', 'admin'];

/** The signed-in role, for hiding controls the role may not use (the server refuses them anyway). */
export function useCan(role: 'viewer' | 'operator' | 'admin'): boolean {
  const trpc = useTRPC();
  const me = useQuery(trpc.session.me.queryOptions(undefined, { staleTime: 60_000 }));
  const r = me.data && me.data.signedIn ? (me.data.role ?? 'viewer') : null;
  return r !== null && ORDER.indexOf(r) >= ORDER.indexOf(role);
}
