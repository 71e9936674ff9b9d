'use client';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useEffect } from 'react';
import { formatBytes, percent } from '@/components/format';
import { useTRPC } from '@/components/providers/trpc';
import { ProgressBar, StatusBadge } from '@/components/ui/primitives';

const TERMINAL = ['succeeded', 'failed', 'cancelled'];

/** A job followed live (polls every second until it ends). */
export function JobLive({ jobId, label, onDone }: { jobId: string; label: string; onDone?: (status: string, result: Record<string, unknown> | null) => void }) {
  const trpc = useTRPC();
  const q = useQuery(trpc.jobs.get.queryOptions({ id: jobId }, { refetchInterval: (query) => (query.state.data && TERMINAL.includes(query.state.data.job.status) ? false : 1_000) }));
  const job = q.data?.job;
  useEffect(() => {
    if (job && TERMINAL.includes(job.status)) onDone?.(job.status, job.result ?? null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [job?.status]);
  if (!job) return <p className="text-sm text-slate-500">Starting {label}…</p>;
  const p = job.progress;
  const running = !TERMINAL.includes(job.status);
  return (
    <div className="flex flex-wrap items-center gap-3 rounded-md border border-slate-200 bg-slate-50 px-3 py-2 text-sm" aria-live="polite">
      <span className="font-medium">{label}</span>
      <StatusBadge status={job.status} />
      {running && p?.bytesTotal ? <ProgressBar value={percent(p.bytesDone ?? 0, p.bytesTotal)} label={`${label} progress`} /> : null}
      {job.waitingReason ? <span className="text-amber-800">waiting: {job.waitingReason}</span> : null}
      {job.status === 'failed' ? <span className="text-red-800">{job.error?.message}</span> : null}
      {job.status === 'succeeded' && typeof job.result?.bytesRead === 'number' ? <span className="text-slate-600">read {formatBytes(job.result.bytesRead as number)}</span> : null}
      {job.status === 'succeeded' && typeof job.result?.restorePointId === 'string' ? (
        <span className="font-mono text-xs text-slate-600" data-testid="new-restore-point">
          {job.result.restorePointId as string}
        </span>
      ) : null}
      <Link className="ml-auto text-sky-700 hover:underline" href={`/jobs/${job.id}`}>
        Open job
      </Link>
    </div>
  );
}
