'use client';
import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '@/components/providers/trpc';
import { EmptyState, ErrorPanel, PageHeader, RelativeTime, Skeleton, Table, td, th } from '@/components/ui/primitives';

export function AuditClient() {
  const trpc = useTRPC();
  const q = useQuery(trpc.audit.list.queryOptions({ limit: 200 }, { refetchInterval: 5_000 }));
  return (
    <div>
      <PageHeader title="Audit" subtitle="Every change an admin or the engine made to the environment and the configuration." />
      {q.error ? <ErrorPanel error={q.error} what="the audit log" onRetry={() => void q.refetch()} /> : null}
      {!q.data ? (
        <Skeleton rows={8} />
      ) : q.data.length === 0 ? (
        <EmptyState title="No change recorded yet" />
      ) : (
        <div className="rounded-lg border border-slate-200 bg-white p-2 shadow-sm">
          <Table label="Audit log">
            <thead>
              <tr>
                <th className={th}>When</th>
                <th className={th}>Who</th>
                <th className={th}>Action</th>
                <th className={th}>Target</th>
                <th className={th}>Details</th>
              </tr>
            </thead>
            <tbody>
              {q.data.map((a) => (
                <tr key={a.id}>
                  <td className={td}>
                    <RelativeTime at={a.at} />
                  </td>
                  <td className={td}>{a.actorName}</td>
                  <td className={`${td} font-mono text-xs`}>{a.action}</td>
                  <td className={td}>
                    {a.targetKind} {a.targetName ?? a.targetId ?? ''}
                  </td>
                  <td className={`${td} max-w-md truncate text-xs text-slate-600`} title={JSON.stringify(a.details)}>
                    {a.details ? JSON.stringify(a.details) : ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        </div>
      )}
    </div>
  );
}
