'use client';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { usePathname, useRouter, useSearchParams } from 'next/navigation';
import { formatBytes, formatDuration, formatRate, percent } from '@/components/format';
import { useTRPC } from '@/components/providers/trpc';
import { EmptyState, ErrorPanel, Input, PageHeader, ProgressBar, RelativeTime, Select, Skeleton, StatusBadge, Table, td, th } from '@/components/ui/primitives';
import { JOB_STATUSES, type JobStatus } from '@/server/engine/statuses';

const RANGES: Record<string, number> = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 };

function duration(j: { startedAt: Date | null; finishedAt: Date | null }): number | null {
  if (!j.startedAt) return null;
  return (j.finishedAt ? new Date(j.finishedAt).getTime() : Date.now()) - new Date(j.startedAt).getTime();
}

/** Filters live in the URL so a view can be shared and survives a reload. */
export function JobsClient() {
  const trpc = useTRPC();
  const params = useSearchParams();
  const router = useRouter();
  const path = usePathname();
  const status = params.get('status') as JobStatus | null;
  const vm = params.get('vm') ?? '';
  const policyId = params.get('policy') ?? '';
  const range = params.get('range') ?? '';
  const set = (k: string, v: string) => {
    const p = new URLSearchParams(params.toString());
    if (v) p.set(k, v);
    else p.delete(k);
    router.replace(`${path}?${p.toString()}`);
  };
  const policies = useQuery(trpc.policies.list.queryOptions());
  const q = useQuery(
    trpc.jobs.list.queryOptions(
      {
        limit: 200,
        ...(status && (JOB_STATUSES as readonly string[]).includes(status) ? { status: [status] } : {}),
        ...(vm ? { vm } : {}),
        ...(policyId ? { policyId } : {}),
        ...(range && RANGES[range] ? { from: new Date(Date.now() - RANGES[range]!) } : {}),
      },
      { refetchInterval: 2_000 },
    ),
  );
  return (
    <div>
      <PageHeader title="Jobs" subtitle="Backups and restores, newest first; running jobs update live." />
      <div className="mb-3 flex flex-wrap items-end gap-3">
        <label className="text-sm">
          Status
          <Select aria-label="Status" value={status ?? ''} onChange={(e) => set('status', e.target.value)} className="mt-1 w-40">
            <option value="">All</option>
            {JOB_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </Select>
        </label>
        <label className="text-sm">
          VM
          <Input aria-label="VM" placeholder="name contains…" defaultValue={vm} onBlur={(e) => set('vm', e.target.value.trim())} onKeyDown={(e) => e.key === 'Enter' && set('vm', (e.target as HTMLInputElement).value.trim())} className="mt-1 w-44" />
        </label>
        <label className="text-sm">
          Policy
          <Select aria-label="Policy" value={policyId} onChange={(e) => set('policy', e.target.value)} className="mt-1 w-52">
            <option value="">All</option>
            {policies.data?.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </Select>
        </label>
        <label className="text-sm">
          Time
          <Select aria-label="Time" value={range} onChange={(e) => set('range', e.target.value)} className="mt-1 w-36">
            <option value="">Any time</option>
            <option value="1h">Last hour</option>
            <option value="24h">Last 24 h</option>
            <option value="7d">Last 7 days</option>
            <option value="30d">Last 30 days</option>
          </Select>
        </label>
      </div>
      {q.error ? <ErrorPanel error={q.error} what="the jobs" onRetry={() => void q.refetch()} /> : null}
      {!q.data ? (
        <Skeleton rows={10} />
      ) : q.data.length === 0 ? (
        <EmptyState title="No jobs match" hint={status || vm || policyId || range ? 'Clear the filters to see every job.' : 'Jobs appear when a policy runs or someone clicks “Back up now” on a VM.'} />
      ) : (
        <div className="rounded-lg border border-slate-200 bg-white p-2 shadow-sm">
          <Table label="Jobs">
            <thead>
              <tr>
                <th className={th}>Status</th>
                <th className={th}>Job</th>
                <th className={th}>VM</th>
                <th className={th}>Policy</th>
                <th className={th}>Started</th>
                <th className={th}>Duration</th>
                <th className={th}>Read / stored</th>
                <th className={th}>Throughput</th>
                <th className={th}>Transport</th>
              </tr>
            </thead>
            <tbody>
              {q.data.map((j) => {
                const r = (j.result ?? {}) as { bytesRead?: number; storedBytesAdded?: number; transport?: string; transferSeconds?: number };
                const p = j.progress;
                const running = j.status === 'running' || j.status === 'compensating';
                const elapsed = p?.startedAt && p.at ? p.at - p.startedAt : null;
                const rate = running && p?.bytesDone && elapsed ? (p.bytesDone / elapsed) * 1000 : r.bytesRead && r.transferSeconds ? r.bytesRead / r.transferSeconds : null;
                const eta = running && rate && p?.bytesTotal ? ((p.bytesTotal - (p.bytesDone ?? 0)) / rate) * 1000 : null;
                return (
                  <tr key={j.id}>
                    <td className={td}>
                      <StatusBadge status={j.status} />
                      {j.waitingReason ? <div className="mt-0.5 max-w-48 truncate text-xs text-amber-800" title={j.waitingReason}>waiting: {j.waitingReason}</div> : null}
                    </td>
                    <td className={td}>
                      <Link className="text-sky-800 hover:underline" href={`/jobs/${j.id}`}>
                        {j.type}
                      </Link>
                    </td>
                    <td className={td}>{j.vmName ?? '—'}</td>
                    <td className={td}>{j.policyName ?? '—'}</td>
                    <td className={td}>
                      <RelativeTime at={j.startedAt ?? j.createdAt} />
                    </td>
                    <td className={td}>
                      {running && p?.bytesTotal ? (
                        <div>
                          <ProgressBar value={percent(p.bytesDone ?? 0, p.bytesTotal)} label={`${j.vmName ?? j.type} progress`} />
                          {eta !== null ? <span className="text-xs text-slate-500">ETA {formatDuration(eta)}</span> : null}
                        </div>
                      ) : (
                        formatDuration(duration(j))
                      )}
                    </td>
                    <td className={td}>{r.bytesRead !== undefined ? `${formatBytes(r.bytesRead)} / ${formatBytes(r.storedBytesAdded)}` : p?.bytesRead ? `${formatBytes(p.bytesRead)} / ${formatBytes(p.bytesStored)}` : '—'}</td>
                    <td className={td}>{formatRate(rate)}</td>
                    <td className={td}>{r.transport ?? '—'}</td>
                  </tr>
                );
              })}
            </tbody>
          </Table>
        </div>
      )}
    </div>
  );
}
