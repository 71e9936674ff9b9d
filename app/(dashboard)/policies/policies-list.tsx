'use client';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useTRPC } from '@/components/providers/trpc';
import { PageHeader, RelativeTime, StatusBadge, Table, td, th } from '@/components/ui/primitives';
import { QueryState, TablePanel } from '@/components/ui/query-state';
import { useCan } from '@/components/use-role';

export function PoliciesList() {
  const trpc = useTRPC();
  const canAdmin = useCan('admin');
  const q = useQuery(trpc.policies.list.queryOptions());
  const units = useQuery(trpc.storageUnits.list.queryOptions());
  const selection = (s: { names: string[]; folders: string[]; tags: string[]; namePattern: string | null }) =>
    [s.names.length ? `names: ${s.names.join(', ')}` : '', s.folders.length ? `folders: ${s.folders.join(', ')}` : '', s.tags.length ? `tags: ${s.tags.join(', ')}` : '', s.namePattern ? `pattern: ${s.namePattern}` : ''].filter(Boolean).join(' · ');
  return (
    <div>
      <PageHeader
        title="Policies"
        subtitle="When, what and where to back up; VM selections are evaluated each time a policy runs."
        actions={
          canAdmin ? (
            <Link href="/policies/new" className="rounded-md bg-sky-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-sky-800">
              New policy
            </Link>
          ) : null
        }
      />
      <QueryState query={q} what="the policies" rows={5} empty={{ title: 'No policy yet', hint: 'VMs are protected by policies: create one that selects them by name, folder, tag or pattern.' }}>
        {(list) => (
        <TablePanel>
          <Table label="Policies">
            <thead>
              <tr>
                <th className={th}>Policy</th>
                <th className={th}>State</th>
                <th className={th}>Schedule</th>
                <th className={th}>Selects</th>
                <th className={th}>Storage unit</th>
                <th className={th}>Next run</th>
              </tr>
            </thead>
            <tbody>
              {list.map((p) => (
                <tr key={p.id}>
                  <td className={td}>
                    <Link className="font-medium text-sky-800 hover:underline" href={`/policies/${p.id}`}>
                      {p.name}
                    </Link>
                    <div className="text-xs text-slate-500">{p.description}</div>
                  </td>
                  <td className={td}>{p.enabled ? <StatusBadge status="ok" label="Enabled" /> : <StatusBadge status="idle" label="Disabled" />}</td>
                  <td className={td}>
                    <code className="text-xs">{p.schedule}</code> <span className="text-xs text-slate-500">{p.timezone}</span>
                  </td>
                  <td className={td}>{selection(p.selection)}</td>
                  <td className={td}>{units.data?.find((u) => u.id === p.storageUnitId)?.name ?? '—'}</td>
                  <td className={td}>{p.enabled ? <RelativeTime at={p.nextRunAt} /> : '—'}</td>
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
