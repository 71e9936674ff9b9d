'use client';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { formatBytes } from '@/components/format';
import { useTRPC } from '@/components/providers/trpc';
import { ErrorPanel, PageHeader, RelativeTime, Skeleton, StatusBadge, Table, td, th } from '@/components/ui/primitives';

export function InventoryOverview() {
  const trpc = useTRPC();
  const q = useQuery(trpc.inventory.tree.queryOptions(undefined, { refetchInterval: 10_000 }));
  return (
    <div>
      <PageHeader title="Inventory" subtitle="Every VM the hypervisor knows, with its protection. Pick one in the tree for details." />
      {q.error ? <ErrorPanel error={q.error} what="the inventory" onRetry={() => void q.refetch()} /> : null}
      {!q.data ? (
        <Skeleton rows={8} />
      ) : (
        <div className="rounded-lg border border-slate-200 bg-white p-3 shadow-sm">
          <Table label="Virtual machines">
            <thead>
              <tr>
                <th className={th}>VM</th>
                <th className={th}>Folder</th>
                <th className={th}>Host</th>
                <th className={th}>Disks</th>
                <th className={th}>Protection</th>
                <th className={th}>Last restore point</th>
              </tr>
            </thead>
            <tbody>
              {q.data.vms
                .filter((v) => !v.isProxy)
                .sort((a, b) => a.name.localeCompare(b.name))
                .map((v) => (
                  <tr key={v.id}>
                    <td className={td}>
                      <Link className="font-medium text-sky-800 hover:underline" href={`/inventory/vms/${encodeURIComponent(v.id)}`}>
                        {v.name}
                      </Link>
                    </td>
                    <td className={td}>{v.folder}</td>
                    <td className={td}>{v.hostId}</td>
                    <td className={td}>
                      {v.diskCount} · {formatBytes(v.totalBytes)}
                    </td>
                    <td className={td} title={v.protection.summary}>
                      <StatusBadge status={v.protection.state} />
                    </td>
                    <td className={td}>
                      <RelativeTime at={v.protection.lastPoint?.createdAt} />
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
