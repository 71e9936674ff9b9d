'use client';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { formatBytes, formatDuration } from '@/components/format';
import { JobLive } from '@/components/job-live';
import { useTRPC } from '@/components/providers/trpc';
import { Button, Card, EmptyState, ErrorPanel, PageHeader, RelativeTime, Skeleton, StatusBadge, Table, td, th } from '@/components/ui/primitives';
import { useAction } from '@/components/use-action';
import { useCan } from '@/components/use-role';
import { startBackupAction } from '@/server/actions/jobs';
import { restoreDiskAction, verifyPointAction } from '@/server/actions/restores';

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <dt className="text-xs text-slate-500">{label}</dt>
      <dd className="text-sm">{children}</dd>
    </div>
  );
}

function PointActions({ pointId, disks, canOperate }: { pointId: string; disks: Array<{ index: number; sizeBytes: number }>; canOperate: boolean }) {
  const [restoreJobs, setRestoreJobs] = useState<Array<{ disk: number; jobId: string; verified?: boolean | null }>>([]);
  const [verifyJob, setVerifyJob] = useState<{ jobId: string; consistent?: boolean | null } | null>(null);
  const restore = useAction(restoreDiskAction);
  const verify = useAction(verifyPointAction);
  if (!canOperate) return null;
  return (
    <div className="space-y-1.5">
      <div className="flex flex-wrap gap-1.5">
        {disks.map((d) => (
          <Button
            key={d.index}
            busy={restore.busy}
            onClick={() =>
              void restore.run({ pointId, diskIndex: d.index }).then((r) => {
                if (r.ok) setRestoreJobs((xs) => [...xs, { disk: d.index, jobId: r.data.job.id }]);
              })
            }
          >
            Restore disk {d.index}
          </Button>
        ))}
        <Button busy={verify.busy} onClick={() => void verify.run({ pointId }).then((r) => r.ok && setVerifyJob({ jobId: r.data.job.id }))}>
          Verify
        </Button>
      </div>
      {restore.error ? <p className="text-xs text-red-700">{restore.error.message}</p> : null}
      {verify.error ? <p className="text-xs text-red-700">{verify.error.message}</p> : null}
      {restoreJobs.map((j) => (
        <div key={j.jobId} className="space-y-1">
          <JobLive jobId={j.jobId} label={`Restore of disk ${j.disk}`} onDone={(status, result) => setRestoreJobs((xs) => xs.map((x) => (x.jobId === j.jobId ? { ...x, verified: status === 'succeeded' ? (result?.verified as boolean) : null } : x)))} />
          {j.verified === true ? <StatusBadge status="consistent" label={`Disk ${j.disk} restored and verified`} /> : j.verified === false ? <StatusBadge status="inconsistent" label={`Disk ${j.disk} NOT verified`} /> : null}
        </div>
      ))}
      {verifyJob ? (
        <div className="space-y-1">
          <JobLive jobId={verifyJob.jobId} label="Verification" onDone={(status, result) => setVerifyJob({ ...verifyJob, consistent: status === 'succeeded' ? (result?.consistent as boolean) : null })} />
          {verifyJob.consistent === true ? <StatusBadge status="consistent" label="Point-in-time image verified" /> : verifyJob.consistent === false ? <StatusBadge status="inconsistent" label="NOT the point-in-time image" /> : null}
        </div>
      ) : null}
    </div>
  );
}

export function VmDetail({ vmId }: { vmId: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const canOperate = useCan('operator');
  const q = useQuery(trpc.inventory.vm.queryOptions({ vm: vmId }, { refetchInterval: 5_000 }));
  const [backupJob, setBackupJob] = useState<string | null>(null);
  const backup = useAction(startBackupAction, { onSuccess: (d) => setBackupJob(d.job.id) });
  if (q.error) return <ErrorPanel error={q.error} what={`VM ${vmId}`} onRetry={() => void q.refetch()} />;
  if (!q.data) return <Skeleton rows={10} />;
  const { vm, host, cluster, cachePolicy, dirtyBytes, failoverCluster, protection, restorePoints, recentJobs, snapshots } = q.data;
  return (
    <div className="space-y-5">
      <PageHeader
        title={vm.name}
        subtitle={
          <span>
            {vm.folder} · {vm.guestOs} · <StatusBadge status={protection.state} /> {protection.summary}
          </span>
        }
        actions={
          canOperate && !vm.isProxy ? (
            <Button variant="primary" busy={backup.busy} onClick={() => void backup.run({ vm: vm.id })}>
              Back up now
            </Button>
          ) : null
        }
      />
      {backup.error ? <p className="text-sm text-red-700">{backup.error.message}</p> : null}
      {backupJob ? <JobLive jobId={backupJob} label={`Backup of ${vm.name}`} onDone={() => void qc.invalidateQueries({ queryKey: trpc.inventory.vm.queryKey({ vm: vmId }) })} /> : null}
      <div className="grid gap-5 lg:grid-cols-3">
        <Card title="Placement">
          <dl className="grid grid-cols-2 gap-3">
            <Fact label="Host">{host?.name ?? vm.hostId}</Fact>
            <Fact label="Cluster">{cluster?.name ?? vm.clusterId}</Fact>
            <Fact label="Tags">{vm.tags.join(', ') || '—'}</Fact>
            <Fact label="DRS">{vm.drsPinned ? 'pinned' : 'may move'}</Fact>
            <Fact label="Guest tools">{vm.guestToolsRunning ? 'running' : 'not running'}</Fact>
            <Fact label="Applications">{vm.applications.join(', ') || '—'}</Fact>
          </dl>
        </Card>
        <Card title="Write-back cache">
          <dl className="grid grid-cols-2 gap-3">
            <Fact label="Policy">{cachePolicy ? (cachePolicy.mode === 'write-back' ? `write-back, ${cachePolicy.peers} peer${cachePolicy.peers === 1 ? '' : 's'}` : 'write-through') : '—'}</Fact>
            <Fact label="Dirty data">{formatBytes(dirtyBytes)}</Fact>
          </dl>
          {failoverCluster ? (
            <p className="mt-3 text-sm">
              Member of <strong>{failoverCluster.name}</strong> ({failoverCluster.activeVmId === vm.id ? 'active' : 'passive'} node), heartbeat {failoverCluster.heartbeatDelayMs} ms × {failoverCluster.heartbeatThreshold}
            </p>
          ) : null}
        </Card>
        <Card title="Protection">
          <dl className="grid grid-cols-2 gap-3">
            <Fact label="Policies">{protection.policies.length ? protection.policies.map((p) => p.name).join(', ') : 'none'}</Fact>
            <Fact label="RPO">{formatDuration(protection.rpoMs)}</Fact>
            <Fact label="Last good restore point">
              <RelativeTime at={protection.lastPoint?.createdAt} />
            </Fact>
            <Fact label="Open snapshots">{snapshots.length}</Fact>
          </dl>
        </Card>
      </div>
      <Card title="Disks">
        <Table label="Disks">
          <thead>
            <tr>
              <th className={th}>Disk</th>
              <th className={th}>Size</th>
              <th className={th}>Datastore</th>
            </tr>
          </thead>
          <tbody>
            {vm.disks.map((d) => (
              <tr key={d.index}>
                <td className={td}>
                  {d.index} · {d.label}
                </td>
                <td className={td}>{formatBytes(d.sizeBytes)}</td>
                <td className={td}>{d.datastoreName}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      </Card>
      <Card title={`Restore points (${restorePoints.length})`}>
        {restorePoints.length === 0 ? (
          <EmptyState title="No restore point yet" hint={canOperate ? 'Click “Back up now”, or wait for the policy’s next run.' : 'The policy’s next run will create one.'} />
        ) : (
          <Table label="Restore points">
            <thead>
              <tr>
                <th className={th}>Taken</th>
                <th className={th}>Consistency</th>
                <th className={th}>Type</th>
                <th className={th}>Transport</th>
                <th className={th}>Read / stored</th>
                <th className={th}>Actions</th>
              </tr>
            </thead>
            <tbody>
              {restorePoints.map((rp) => (
                <tr key={rp.id} data-testid="restore-point" data-point-id={rp.id}>
                  <td className={td}>
                    <RelativeTime at={rp.createdAt} />
                    <div className="font-mono text-xs text-slate-400">{rp.id.slice(0, 15)}…</div>
                  </td>
                  <td className={td}>{rp.consistency === 'application' ? 'application-consistent' : 'crash-consistent'}</td>
                  <td className={td}>{rp.full ? 'full' : 'incremental'}</td>
                  <td className={td}>{rp.transport}</td>
                  <td className={td}>
                    {formatBytes(rp.bytesRead)} / {formatBytes(rp.storedBytesAdded)}
                  </td>
                  <td className={td}>
                    <PointActions pointId={rp.id} disks={rp.disks} canOperate={canOperate} />
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </Card>
      <Card title="Recent jobs">
        {recentJobs.length === 0 ? (
          <EmptyState title="No jobs for this VM yet" />
        ) : (
          <ul className="divide-y divide-slate-100">
            {recentJobs.map((j) => (
              <li key={j.id} className="flex items-center gap-3 py-1.5 text-sm">
                <StatusBadge status={j.status} />
                <Link className="text-sky-800 hover:underline" href={`/jobs/${j.id}`}>
                  {j.type}
                </Link>
                <RelativeTime at={j.createdAt} />
                {j.error ? <span className="truncate text-red-700">{j.error.message}</span> : null}
              </li>
            ))}
          </ul>
        )}
      </Card>
    </div>
  );
}
