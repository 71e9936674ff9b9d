'use client';
import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '@/components/providers/trpc';
import { PageHeader, RelativeTime, Table, td, th } from '@/components/ui/primitives';
import { QueryState, TablePanel } from '@/components/ui/query-state';

export function AuditClient() {
  const trpc = useTRPC();
  const q = useQuery(trpc.audit.list.queryOptions({ limit: 200 }, { refetchInterval: 5_000 }));
  return (
    <div>
      <PageHeader title="Audit" subtitle="Every change an admin or the engine made to the environment and the configuration." />
      <QueryState query={q} what="the audit log" rows={8} empty={{ title: 'No change recorded yet' }}>
        {(rows) => (
        <TablePanel>
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
              {rows.map((a) => (
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
        </TablePanel>
        )}
      </QueryState>
    </div>
  );
}
