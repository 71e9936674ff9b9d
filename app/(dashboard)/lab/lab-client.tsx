'use client';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { formatBytes } from '@/components/format';
import { useTRPC } from '@/components/providers/trpc';
import { Button, Card, EmptyState, ErrorPanel, PageHeader, RelativeTime, Select, Skeleton, StatusBadge, Table, td, th } from '@/components/ui/primitives';
import { useCan } from '@/components/use-role';

const IMPORTANT = new Set(['failover', 'risky-move', 'dirty-data-lost', 'host-crash', 'quiesce-failed']);

function FaultPanel({ hosts, vms, onInjected }: { hosts: string[]; vms: string[]; onInjected: () => void }) {
  const trpc = useTRPC();
  const [host, setHost] = useState(hosts[0] ?? '');
  const [vm, setVm] = useState(vms[0] ?? '');
  const m = useMutation(trpc.lab.injectFault.mutationOptions({ onSuccess: onInjected }));
  const inject = (fault: Record<string, unknown> & { kind: string }) => m.mutate(fault);
  return (
    <Card title="Inject a fault">
      <div className="flex flex-wrap items-end gap-4">
        <label className="text-sm">
          Host
          <Select aria-label="Fault host" className="mt-1 w-36" value={host} onChange={(e) => setHost(e.target.value)}>
            {hosts.map((h) => (
              <option key={h}>{h}</option>
            ))}
          </Select>
        </label>
        <div className="flex gap-2">
          <Button variant="danger" busy={m.isPending} onClick={() => inject({ kind: 'host-crash', hostId: host, downMs: 60_000 })}>
            Crash host
          </Button>
          <Button busy={m.isPending} onClick={() => inject({ kind: 'slow-destage', hostId: host, factor: 0.1, forMs: 120_000 })}>
            Slow destage
          </Button>
          <Button busy={m.isPending} onClick={() => inject({ kind: 'slow-network', hostId: host, factor: 0.1, forMs: 120_000 })}>
            Slow network
          </Button>
        </div>
        <label className="text-sm">
          VM
          <Select aria-label="Fault VM" className="mt-1 w-36" value={vm} onChange={(e) => setVm(e.target.value)}>
            {vms.map((v) => (
              <option key={v}>{v}</option>
            ))}
          </Select>
        </label>
        <div className="flex flex-wrap gap-2">
          <Button busy={m.isPending} onClick={() => inject({ kind: 'quiesce-failure', vm, count: 1 })}>
            Fail next quiesce
          </Button>
          <Button busy={m.isPending} onClick={() => inject({ kind: 'cbt-reset', vm, disk: null })}>
            Reset CBT
          </Button>
          <Button busy={m.isPending} onClick={() => inject({ kind: 'burst-writes', vm, factor: 20, forMs: 60_000 })}>
            Burst writes
          </Button>
        </div>
      </div>
      {m.error ? <p className="mt-2 text-sm text-red-700">{m.error.message}</p> : null}
      {m.data ? <p className="mt-2 text-sm text-slate-700">Injected: {m.data.message}</p> : null}
    </Card>
  );
}

/** The lab as the caches and the hypervisor see it: dirty data per host, the blacklist, what happened. */
export function LabClient() {
  const trpc = useTRPC();
  const canAdmin = useCan('admin');
  const lab = useQuery(trpc.lab.inspect.queryOptions(undefined, { refetchInterval: 2_000 }));
  const events = useQuery(trpc.lab.events.queryOptions({ limit: 50 }, { refetchInterval: 2_000 }));
  if (lab.error) return <ErrorPanel error={lab.error} what="the lab" onRetry={() => void lab.refetch()} />;
  if (!lab.data) return <Skeleton rows={10} />;
  const d = lab.data;
  return (
    <div className="space-y-5">
      <PageHeader title="Lab" subtitle={`${d.vcenter.name}: a simulated data center with real disk bytes, write-back caches, snapshots and faults.`} />
      <div className="grid gap-4 lg:grid-cols-3">
        {d.hosts.map((h) => (
          <Card key={h.id} title={h.name} actions={h.state === 'connected' ? <StatusBadge status="ok" label="Connected" /> : <StatusBadge status="failed" label="Down" />}>
            <p className="text-sm">
              Dirty in flash cache: <strong>{formatBytes(h.dirtyBytes)}</strong> · destage {h.destageMBps.toFixed(0)} MiB/s
            </p>
            <p className="text-xs text-slate-500">
              Cache pollution by proxies {formatBytes(h.pollutionBytes)} · NBD served {formatBytes(h.nbdBytes)} ({h.nbdCpuSeconds.toFixed(1)} CPU s)
            </p>
            <Table label={`VMs on ${h.name}`}>
              <thead>
                <tr>
                  <th className={th}>VM</th>
                  <th className={th}>Cache policy</th>
                  <th className={th}>Dirty</th>
                </tr>
              </thead>
              <tbody>
                {h.vms.map((v) => (
                  <tr key={v.id}>
                    <td className={td}>{v.name}</td>
                    <td className={td}>{v.policy}</td>
                    <td className={`${td} tabular-nums`}>{formatBytes(v.dirtyBytes)}</td>
                  </tr>
                ))}
              </tbody>
            </Table>
          </Card>
        ))}
      </div>
      <div className="grid gap-4 lg:grid-cols-2">
        <Card title="Proxy blacklist (as the cache sees it)">
          {d.blacklist.length === 0 ? (
            <EmptyState title="The blacklist is empty" hint="HotAdd proxies that are not on it read stale data of write-back VMs." />
          ) : (
            <ul className="space-y-1 text-sm">
              {d.blacklist.map((b) => (
                <li key={b.uuid}>
                  <strong>{b.name}</strong> <span className="font-mono text-xs text-slate-500">{b.uuid}</span> · added <RelativeTime at={b.addedAt} />
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card title="Failover clusters">
          <ul className="space-y-1 text-sm">
            {d.failoverClusters.map((f) => (
              <li key={f.id}>
                <strong>{f.name}</strong>: {f.members.join(' + ')}, active <strong>{f.active}</strong>, heartbeat {f.heartbeatDelayMs} ms × {f.heartbeatThreshold} (tolerance {(f.heartbeatDelayMs * f.heartbeatThreshold) / 1000} s)
              </li>
            ))}
          </ul>
        </Card>
      </div>
      {canAdmin ? <FaultPanel hosts={d.hosts.map((h) => h.id)} vms={d.vms.filter((v) => !v.isProxy).map((v) => v.name)} onInjected={() => void events.refetch()} /> : null}
      <Card title="Recent lab events">
        {!events.data ? (
          <Skeleton rows={5} />
        ) : events.data.length === 0 ? (
          <EmptyState title="Nothing happened yet" />
        ) : (
          <ol className="max-h-[28rem] space-y-1 overflow-y-auto text-sm" aria-label="Lab events">
            {events.data.map((e) => (
              <li key={e.id} className="flex gap-2">
                <span className="w-24 shrink-0 text-xs text-slate-500">
                  <RelativeTime at={e.at} />
                </span>
                <span className={IMPORTANT.has(e.kind) ? 'font-medium text-red-800' : 'text-slate-700'}>
                  <span className="mr-1 rounded bg-slate-100 px-1 font-mono text-xs">{e.kind}</span>
                  {e.message}
                </span>
              </li>
            ))}
          </ol>
        )}
      </Card>
    </div>
  );
}
