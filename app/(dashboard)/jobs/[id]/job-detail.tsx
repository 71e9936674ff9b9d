'use client';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { formatBytes, formatDuration, formatRate } from '@/components/format';
import { useTRPC } from '@/components/providers/trpc';
import { Button, Card, EmptyState, ErrorPanel, PageHeader, RelativeTime, Skeleton, StatusBadge, cn } from '@/components/ui/primitives';
import { useAction } from '@/components/use-action';
import { useCan } from '@/components/use-role';
import { cancelJobAction } from '@/server/actions/jobs';

type R = Record<string, unknown>;
const n = (v: unknown) => (typeof v === 'number' ? v : null);

/** The key figures and the "why" of each step, from its stored result. */
export function stepFigures(name: string, r: R | null): Array<[string, string]> {
  if (!r) return [];
  const out: Array<[string, string]> = [];
  const add = (k: string, v: string | null | undefined) => {
    if (v !== null && v !== undefined && v !== '') out.push([k, v]);
  };
  switch (name) {
    case 'plan': {
      add('Transport', String(r.transport ?? ''));
      add('Why', Array.isArray(r.reasons) ? (r.reasons as string[]).join('; ') : null);
      const cp = r.cachePolicy as { mode: string; peers?: number } | null;
      add('Cache policy', cp ? (cp.mode === 'write-back' ? `write-back (${cp.peers} peers)` : 'write-through') : 'none');
      const parent = r.parent as { pointId: string } | null;
      add('Parent', parent ? parent.pointId : 'none: first full backup');
      break;
    }
    case 'lease':
      add('Proxy', String(r.proxyName ?? '—'));
      add('Slots', Array.isArray(r.resources) ? (r.resources as string[]).join(', ') : null);
      break;
    case 'precheck':
      add('Checks', Array.isArray(r.checks) && r.checks.length ? (r.checks as Array<{ detail: string }>).map((c) => c.detail).join('; ') : 'nothing to check');
      if (n(r.predictedStunMs) !== null) add('Predicted stun', `${formatDuration(n(r.predictedStunMs))} (tolerance ${formatDuration(n(r.toleranceMs))})`);
      break;
    case 'cache':
      add('Write-back barrier', r.barrier ? 'yes' : 'no');
      add('Why', String(r.reason ?? ''));
      if (r.barrier) add('Destage', formatDuration(n(r.destageMs)));
      break;
    case 'uncache':
      add('Write-through window', formatDuration(n(r.writeThroughWindowMs)));
      break;
    case 'pin':
      add('DRS pin', r.pinned ? 'pinned while the snapshot exists' : String(r.reason ?? 'not pinned'));
      break;
    case 'snapshot': {
      const s = r.snapshot as { id: string; consistency: string; quiesceError: string | null } | undefined;
      if (s) {
        add('Snapshot', s.id);
        add('Consistency', `${s.consistency}-consistent`);
        add('Quiesce', s.quiesceError ?? (s.consistency === 'application' ? 'ok' : 'not asked'));
      }
      break;
    }
    case 'transfer': {
      add('Read', formatBytes(n(r.bytesRead)));
      add('Stored', formatBytes(n(r.storedBytesAdded)));
      add('Throughput', formatRate(n(r.seconds) ? (n(r.bytesRead) ?? 0) / (n(r.seconds) ?? 1) : null));
      const disks = r.disks as Array<{ index: number; full: boolean; reason: string | null }> | undefined;
      add('Reads', disks?.map((d) => `disk ${d.index}: ${d.full ? `full (${d.reason})` : 'changed extents'}`).join('; '));
      break;
    }
    case 'release': {
      const rm = r.removal as R | undefined;
      if (rm) {
        add('Snapshot lifetime', formatDuration(n(rm.lifetimeMs)));
        add('Redo log', formatBytes(n(rm.redoBytes)));
        add('Consolidation', `${rm.consolidationPasses} pass(es), stun ${formatDuration(n(rm.stunMs))}`);
        if (rm.heartbeatRaised) add('Heartbeat', 'threshold raised for the consolidation, then restored');
      }
      break;
    }
    case 'record':
      add('Restore point', String(r.restorePointId ?? ''));
      break;
    case 'restore':
      add('Written', formatBytes(n(r.bytesWritten)));
      add('Image digest', String(r.digest ?? ''));
      break;
    case 'verify':
      if (typeof r.verified === 'boolean') add('Verified', r.verified ? `yes (${String(r.method)})` : 'NO');
      if (typeof r.consistent === 'boolean') add('Consistent', r.consistent ? 'yes: every disk matches the oracle' : 'NO');
      break;
    default:
      for (const [k, v] of Object.entries(r)) if (typeof v !== 'object') add(k, String(v));
  }
  return out;
}

export function JobDetail({ id }: { id: string }) {
  const trpc = useTRPC();
  const canOperate = useCan('operator');
  const q = useQuery(trpc.jobs.get.queryOptions({ id }, { refetchInterval: (x) => (x.state.data && ['succeeded', 'failed', 'cancelled'].includes(x.state.data.job.status) ? 10_000 : 1_000) }));
  const cancel = useAction(cancelJobAction, { onSuccess: () => void q.refetch() });
  if (q.error) return <ErrorPanel error={q.error} what={`job ${id}`} onRetry={() => void q.refetch()} />;
  if (!q.data) return <Skeleton rows={10} />;
  const { job, steps, logs, policy, children } = q.data;
  const result = (job.result ?? {}) as R;
  const running = !['succeeded', 'failed', 'cancelled'].includes(job.status);
  const runSteps = steps.filter((s) => s.phase === 'run');
  const comp = steps.filter((s) => s.phase === 'compensate');
  return (
    <div className="space-y-5">
      <PageHeader
        title={`${job.type}${job.vmName ? ` · ${job.vmName}` : ''}`}
        subtitle={
          <span className="flex flex-wrap items-center gap-2">
            <StatusBadge status={job.status} /> created <RelativeTime at={job.createdAt} />
            {policy && job.createdBy === `policy ${policy.name}` ? null : ` by ${job.createdBy ?? 'the engine'}`}
            {policy ? (
              <>
                {' '}· policy <Link className="text-sky-700 hover:underline" href={`/policies/${policy.id}`}>{policy.name}</Link>
              </>
            ) : null}
            {job.recoveries ? <span className="text-amber-800">· resumed after {job.recoveries} engine crash(es)</span> : null}
          </span>
        }
        actions={
          canOperate && running ? (
            <Button variant="danger" busy={cancel.busy} onClick={() => void cancel.run({ id })}>
              Cancel job
            </Button>
          ) : null
        }
      />
      {job.waitingReason ? <p className="rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900">Waiting: {job.waitingReason}</p> : null}
      {job.error ? (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-900">
          {job.error.step ? `Step ${job.error.step}: ` : ''}
          {job.error.message}
        </p>
      ) : null}
      {job.type === 'backup.vm' && job.status === 'succeeded' ? (
        <div className="grid grid-cols-2 gap-3 md:grid-cols-4">
          {[
            ['Transport', `${String(result.transport)} via ${String(result.proxy ?? 'host')}`],
            ['Read / disks', `${formatBytes(n(result.bytesRead))} / ${formatBytes(n(result.diskBytes))}`],
            ['Stored', formatBytes(n(result.storedBytesAdded))],
            ['Consistency', `${String(result.consistency)}-consistent`],
            ['Write-through window', result.writeBackBarrier ? formatDuration(n(result.writeThroughWindowMs)) : 'none'],
            ['Snapshot lifetime', formatDuration(n(result.snapshotLifetimeMs))],
            ['Redo log', formatBytes(n(result.redoBytes))],
            ['Stun', formatDuration(n(result.stunMs))],
          ].map(([k, v]) => (
            <div key={k} className="rounded-md border border-slate-200 bg-white px-3 py-2">
              <p className="text-xs text-slate-500">{k}</p>
              <p className="text-sm font-medium">{v}</p>
            </div>
          ))}
        </div>
      ) : null}
      <Card title="Steps">
        {runSteps.length === 0 ? (
          <EmptyState title="No step has started yet" hint={job.waitingReason ? `It waits: ${job.waitingReason}` : 'The engine takes the job as soon as a slot is free.'} />
        ) : (
          <ol className="relative ml-2 border-l border-slate-200">
            {[...runSteps, ...comp].map((s) => {
              const figures = stepFigures(s.name, s.result);
              const dur = s.finishedAt ? new Date(s.finishedAt).getTime() - new Date(s.startedAt).getTime() : null;
              return (
                <li key={s.id} className="mb-4 ml-4" data-testid={`step-${s.phase}-${s.name}`}>
                  <span className={cn('absolute -left-1.5 mt-1.5 size-3 rounded-full border border-white', s.status === 'completed' ? 'bg-green-500' : s.status === 'failed' ? 'bg-red-500' : s.status === 'running' ? 'bg-sky-500' : 'bg-amber-400')} />
                  <div className="flex flex-wrap items-center gap-2">
                    <span className="font-medium">{s.phase === 'compensate' ? `Undo ${s.name}` : s.name}</span>
                    <StatusBadge status={s.status} />
                    <span className="text-xs text-slate-500">
                      started <RelativeTime at={s.startedAt} />
                      {dur !== null ? ` · took ${formatDuration(dur)}` : ''}
                      {s.attempt > 1 ? ` · attempt ${s.attempt}` : ''}
                    </span>
                  </div>
                  {s.error ? <p className="text-sm text-red-700">{s.error.code === 'WAITING' ? `Waited: ${s.error.message}` : s.error.message}</p> : null}
                  {figures.length ? (
                    <dl className="mt-1 grid grid-cols-[max-content_1fr] gap-x-3 gap-y-0.5 text-sm">
                      {figures.map(([k, v]) => (
                        <div key={k} className="contents">
                          <dt className="text-slate-500">{k}</dt>
                          <dd className="break-words">{v}</dd>
                        </div>
                      ))}
                    </dl>
                  ) : null}
                </li>
              );
            })}
          </ol>
        )}
      </Card>
      {children.length ? (
        <Card title={`VM backups started by this run (${children.length})`}>
          <ul className="grid grid-cols-2 gap-1 md:grid-cols-3">
            {children.map((c) => (
              <li key={c.id} className="flex items-center gap-2 text-sm">
                <StatusBadge status={c.status} />
                <Link className="text-sky-800 hover:underline" href={`/jobs/${c.id}`}>
                  {c.vmName}
                </Link>
              </li>
            ))}
          </ul>
        </Card>
      ) : null}
      <Card title="Log">
        {logs.length === 0 ? (
          <EmptyState title="Nothing logged yet" />
        ) : (
          <ol className="max-h-96 space-y-0.5 overflow-y-auto font-mono text-xs">
            {logs.map((l) => (
              <li key={l.id} className={cn(l.level === 'error' ? 'text-red-700' : l.level === 'warn' ? 'text-amber-800' : 'text-slate-700')}>
                <span className="text-slate-400">{new Date(l.at).toISOString().slice(11, 19)}</span> [{l.step ?? 'job'}] {l.message}
              </li>
            ))}
          </ol>
        )}
      </Card>
    </div>
  );
}
