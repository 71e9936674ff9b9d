'use client';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { formatBytes, formatRatio } from '@/components/format';
import { useTRPC } from '@/components/providers/trpc';
import { Button, Card, EmptyState, ErrorPanel, Field, Input, PageHeader, Skeleton, StatusBadge, Table, td, th } from '@/components/ui/primitives';
import { useCan } from '@/components/use-role';
import { CreateStorageUnitInput } from '@/server/storage/schemas';

function AddUnit({ onDone }: { onDone: () => void }) {
  const trpc = useTRPC();
  const [name, setName] = useState('');
  const [path, setPath] = useState('');
  const [jobs, setJobs] = useState('4');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const m = useMutation(
    trpc.storageUnits.create.mutationOptions({
      onSuccess: () => {
        setName('');
        setPath('');
        setErrors({});
        onDone();
      },
      onError: (e) => {
        const fe = (e.data as { fieldErrors?: Record<string, string[]> } | undefined)?.fieldErrors ?? {};
        setErrors(Object.keys(fe).length ? Object.fromEntries(Object.entries(fe).map(([k, v]) => [k, v[0]!])) : { _: e.message });
      },
    }),
  );
  const submit = () => {
    const p = CreateStorageUnitInput.safeParse({ name, path, maxConcurrentJobs: Number(jobs) });
    if (!p.success) {
      setErrors(Object.fromEntries(p.error.issues.map((i) => [String(i.path[0]), i.message])));
      return;
    }
    m.mutate(p.data);
  };
  return (
    <Card title="Add a storage unit">
      <div className="grid gap-3 md:grid-cols-4">
        <Field label="Name" error={errors.name}>{(id) => <Input id={id} value={name} invalid={!!errors.name} onChange={(e) => setName(e.target.value)} />}</Field>
        <Field label="Directory on the server" error={errors.path} hint="empty or new">{(id) => <Input id={id} value={path} placeholder="/srv/backup/unit-2" invalid={!!errors.path} onChange={(e) => setPath(e.target.value)} />}</Field>
        <Field label="Concurrent jobs" error={errors.maxConcurrentJobs}>{(id) => <Input id={id} type="number" value={jobs} onChange={(e) => setJobs(e.target.value)} />}</Field>
        <div className="flex items-end">
          <Button variant="primary" busy={m.isPending} onClick={submit}>
            Add
          </Button>
        </div>
      </div>
      {errors._ ? <p className="mt-2 text-sm text-red-700">{errors._}</p> : null}
    </Card>
  );
}

export function StorageClient() {
  const trpc = useTRPC();
  const canAdmin = useCan('admin');
  const q = useQuery(trpc.storageUnits.list.queryOptions(undefined, { refetchInterval: 10_000 }));
  return (
    <div className="space-y-5">
      <PageHeader title="Storage" subtitle="Storage units and their deduplicating repositories." />
      {q.error ? <ErrorPanel error={q.error} what="the storage units" onRetry={() => void q.refetch()} /> : null}
      {!q.data ? (
        <Skeleton rows={4} />
      ) : q.data.length === 0 ? (
        <EmptyState title="No storage unit" hint="Add a directory on the server where backups are written." />
      ) : (
        <div className="rounded-lg border border-slate-200 bg-white p-2 shadow-sm">
          <Table label="Storage units">
            <thead>
              <tr>
                <th className={th}>Unit</th>
                <th className={th}>State</th>
                <th className={th}>Protected (logical)</th>
                <th className={th}>Stored</th>
                <th className={th}>Free</th>
                <th className={th}>Dedup ratio</th>
                <th className={th}>Restore points</th>
                <th className={th}>Concurrent jobs</th>
              </tr>
            </thead>
            <tbody>
              {q.data.map((u) => (
                <tr key={u.id}>
                  <td className={td}>
                    <div className="font-medium">{u.name}</div>
                    <div className="font-mono text-xs text-slate-500">{u.path}</div>
                  </td>
                  <td className={td}>{u.error ? <StatusBadge status="failed" label={u.error} /> : <StatusBadge status="ok" />}</td>
                  <td className={td}>{formatBytes(u.stats?.logicalBytes)}</td>
                  <td className={td}>{formatBytes(u.stats?.storedBytes)}</td>
                  <td className={td}>{formatBytes(u.freeBytes)}</td>
                  <td className={td}>{formatRatio(u.stats?.dedupRatio)}</td>
                  <td className={td}>{u.restorePoints}</td>
                  <td className={td}>{u.maxConcurrentJobs}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        </div>
      )}
      {canAdmin ? <AddUnit onDone={() => void q.refetch()} /> : null}
    </div>
  );
}
