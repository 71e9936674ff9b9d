'use client';
import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '@/components/providers/trpc';
import { ErrorPanel, Skeleton } from '@/components/ui/primitives';
import { PolicyForm } from '../policy-form';

export function EditPolicy({ id, readOnly }: { id: string; readOnly: boolean }) {
  const trpc = useTRPC();
  const q = useQuery(trpc.policies.get.queryOptions({ id }));
  if (q.error) return <ErrorPanel error={q.error} what="the policy" />;
  if (!q.data) return <Skeleton rows={8} />;
  return <PolicyForm key={q.data.updatedAt.toString()} policy={q.data} readOnly={readOnly} />;
}
