'use client';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { formatBytes, formatRatio } from '@/components/format';
import { useTRPC } from '@/components/providers/trpc';
import { Card, EmptyState, ErrorPanel, PageHeader, Skeleton, StatusBadge } from '@/components/ui/primitives';

function Tile({ label, value, status, href }: { label: string; value: string | number; status?: string; href?: string }) {
  const body = (
    <div className="rounded-lg border border-slate-200 bg-white p-4 shadow-sm hover:border-slate-300">
      <p className="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</p>
      <p className="mt-1 flex items-center gap-2 text-2xl font-semibold tabular-nums">
        {value}
        {status ? <StatusBadge status={status} /> : null}
      </p>
    </div>
  );
  return href ? <Link href={href}>{body}</Link> : body;
}

export function OverviewClient() {
  const trpc = useTRPC();
  const q = useQuery(trpc.overview.get.queryOptions(undefined, { refetchInterval: 5_000 }));
  if (q.error) return <ErrorPanel error={q.error} what="the overview" onRetry={() => void q.refetch()} />;
  const d = q.data;
  const max = d ? Math.max(1, ...d.chart.map((c) => c.succeeded + c.failed + c.cancelled + c.other)) : 1;
  return (
    <div>
      <PageHeader title="Overview" subtitle="Is everything protected, and if not, what to do." />
      {!d ? (
        <Skeleton rows={6} />
      ) : (
        <div className="space-y-5">
          <div className="grid grid-cols-2 gap-3 lg:grid-cols-4">
            <Tile label="VMs protected" value={`${d.vms.protected} / ${d.vms.total}`} status={d.vms.protected === d.vms.total ? 'protected' : undefined} href="/inventory" />
            <Tile label="At risk of RPO breach" value={d.vms.atRisk} status={d.vms.atRisk ? 'at-risk' : undefined} href="/inventory" />
            <Tile label="Unprotected" value={d.vms.unprotected} status={d.vms.unprotected ? 'unprotected' : undefined} href="/policies" />
            <Tile label="Storage used" value={formatBytes(d.storage.storedBytes)} href="/storage" />
          </div>
          <div className="grid gap-5 lg:grid-cols-3">
            <Card title="Backup jobs, last 24 h" className="lg:col-span-1">
              {Object.keys(d.jobs24h).length === 0 ? (
                <EmptyState title="No backup jobs yet" hint="The default policy's first run starts shortly after the first start." />
              ) : (
                <ul className="space-y-1.5">
                  {Object.entries(d.jobs24h).map(([status, n]) => (
                    <li key={status} className="flex items-center justify-between">
                      <Link href={`/jobs?status=${status}`}>
                        <StatusBadge status={status} />
                      </Link>
                      <span className="tabular-nums font-medium">{n}</span>
                    </li>
                  ))}
                </ul>
              )}
              <p className="mt-3 text-xs text-slate-500">
                Dedup ratio {formatRatio(d.storage.dedupRatio)} · {formatBytes(d.storage.logicalBytes)} protected in {d.storage.units} storage unit{d.storage.units === 1 ? '' : 's'}
              </p>
            </Card>
            <Card title="Job outcomes, 14 days" className="lg:col-span-2">
              <div className="flex h-32 items-end gap-1.5" role="img" aria-label="Backup job outcomes per day for 14 days">
                {d.chart.map((c) => {
                  const total = c.succeeded + c.failed + c.cancelled + c.other;
                  return (
                    <div key={c.day} className="flex flex-1 flex-col justify-end" title={`${c.day}: ${c.succeeded} succeeded, ${c.failed} failed, ${c.cancelled} cancelled`}>
                      <div className="bg-red-500" style={{ height: `${(c.failed / max) * 100}%` }} />
                      <div className="bg-slate-400" style={{ height: `${((c.cancelled + c.other) / max) * 100}%` }} />
                      <div className="bg-green-500" style={{ height: `${(c.succeeded / max) * 100}%` }} />
                      {total === 0 ? <div className="h-px bg-slate-200" /> : null}
                    </div>
                  );
                })}
              </div>
              <div className="mt-1 flex justify-between text-xs text-slate-500">
                <span>{d.chart[0]?.day}</span>
                <span>
                  <span className="mr-2 inline-block size-2 bg-green-500" />
                  succeeded <span className="ml-2 mr-2 inline-block size-2 bg-red-500" />
                  failed <span className="ml-2 mr-2 inline-block size-2 bg-slate-400" />
                  other
                </span>
                <span>{d.chart[d.chart.length - 1]?.day}</span>
              </div>
            </Card>
          </div>
          <Card title="Needs attention">
            {d.attention.length === 0 ? (
              <EmptyState title="Nothing needs attention" hint="Failed jobs, VMs out of their RPO and orphaned snapshots show up here with the action that fixes them." />
            ) : (
              <ul className="divide-y divide-slate-100">
                {d.attention.map((a) => (
                  <li key={`${a.kind}-${a.id}`} className="flex items-center justify-between gap-3 py-2">
                    <div className="min-w-0">
                      <p className="text-sm font-medium">
                        <StatusBadge status={a.kind === 'failed-job' ? 'failed' : 'warning'} label={a.kind === 'failed-job' ? 'Failed' : a.kind === 'rpo' ? 'RPO' : 'Orphan'} /> {a.title}
                      </p>
                      <p className="truncate text-xs text-slate-600">{a.detail}</p>
                    </div>
                    <Link className="shrink-0 text-sm font-medium text-sky-700 hover:underline" href={a.action.href}>
                      {a.action.label}
                    </Link>
                  </li>
                ))}
              </ul>
            )}
          </Card>
        </div>
      )}
    </div>
  );
}
