'use client';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useTRPC } from '@/components/providers/trpc';
import { Button, ConfirmByName, PageHeader, StatusBadge, Table, td, th } from '@/components/ui/primitives';
import { QueryState, TablePanel } from '@/components/ui/query-state';
import { useCan } from '@/components/use-role';

export function ProxiesClient() {
  const trpc = useTRPC();
  const canAdmin = useCan('admin');
  const q = useQuery(trpc.proxies.list.queryOptions(undefined, { refetchInterval: 5_000 }));
  const add = useMutation(trpc.proxies.blacklistAdd.mutationOptions({ onSuccess: () => void q.refetch() }));
  const remove = useMutation(trpc.proxies.blacklistRemove.mutationOptions({ onSuccess: () => void q.refetch() }));
  const error = add.error ?? remove.error;
  return (
    <div>
      <PageHeader title="Proxies" subtitle="The machines that read VM disks, how they can read them, and whether the cache layer knows them as backup proxies." />
      {error ? (
        <p role="alert" className="mb-3 rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
          {error.message}
        </p>
      ) : null}
      <QueryState query={q} what="the proxies" rows={4} empty={{ title: 'No proxy', hint: 'Add backup proxies in the hypervisor; NBD through the hosts needs none.' }}>
        {(proxies) => (
        <TablePanel>
          <Table label="Proxies">
            <thead>
              <tr>
                <th className={th}>Proxy</th>
                <th className={th}>Kind</th>
                <th className={th}>Host</th>
                <th className={th}>UUID</th>
                <th className={th}>Transports</th>
                <th className={th}>Tasks</th>
                <th className={th}>Load</th>
                <th className={th}>Cache blacklist</th>
              </tr>
            </thead>
            <tbody>
              {proxies.map((p) => (
                <tr key={p.id}>
                  <td className={td}>
                    <div className="font-medium">{p.name}</div>
                    {p.warnings.map((w) => (
                      <p key={w} className="mt-1 max-w-md text-xs text-amber-800">
                        <StatusBadge status="warning" /> {w}
                      </p>
                    ))}
                  </td>
                  <td className={td}>{p.kind === 'vm' ? 'VM' : 'physical'}</td>
                  <td className={td}>{p.hostId ?? (p.sanDatastoreIds.length ? `SAN: ${p.sanDatastoreIds.join(', ')}` : '—')}</td>
                  <td className={`${td} font-mono text-xs`}>{p.uuid ?? '—'}</td>
                  <td className={td}>{p.transports.join(', ')}</td>
                  <td className={td}>
                    {p.activeTasks} / {p.maxTasks}
                  </td>
                  <td className={td}>
                    CPU {Math.round(p.cpuUsagePct)}% · mem {Math.round(p.memoryUsagePct)}%
                  </td>
                  <td className={td}>
                    <div className="flex flex-wrap items-center gap-2">
                      {p.kind !== 'vm' ? (
                        <span className="text-xs text-slate-500">not applicable (reads the SAN)</span>
                      ) : p.blacklisted ? (
                        <StatusBadge status="ok" label="Blacklisted" />
                      ) : (
                        <StatusBadge status="warning" label="Not blacklisted" />
                      )}
                      {canAdmin && p.kind === 'vm' ? (
                        p.blacklisted ? (
                          <ConfirmByName name={p.name} action="Remove from blacklist" busy={remove.isPending} onConfirm={() => remove.mutate({ proxy: p.name, confirm: p.name })} />
                        ) : (
                          <Button busy={add.isPending} onClick={() => add.mutate({ proxy: p.name })}>
                            Add to blacklist
                          </Button>
                        )
                      ) : null}
                    </div>
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
