'use client';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useMemo, useState } from 'react';
import { useTRPC } from '@/components/providers/trpc';
import { Button, Card, ConfirmByName, Field, Input, PageHeader, Select, StatusBadge, Table, td, th } from '@/components/ui/primitives';
import { CreatePolicyInput, PolicySettingsSchema, type CreatePolicyInput as PolicyInput } from '@/server/policies/schemas';

const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

interface FormState {
  name: string;
  description: string;
  enabled: boolean;
  schedule: string;
  timezone: string;
  names: string;
  folders: string;
  tags: string;
  namePattern: string;
  storageUnitId: string;
  transportOrder: string;
  quiesce: 'required' | 'preferred' | 'off';
  writeBackTimeoutSec: string;
  allowBlacklistAdd: boolean;
  raiseHeartbeatThreshold: boolean;
  maxConcurrentVms: string;
}

export interface PolicyFormProps {
  policy?: {
    id: string;
    name: string;
    description: string;
    enabled: boolean;
    schedule: string;
    timezone: string;
    selection: { names: string[]; folders: string[]; tags: string[]; namePattern: string | null };
    storageUnitId: string;
    settings: Record<string, unknown>;
  };
  readOnly: boolean;
}

/** Create and edit a policy: the domain's schema validates every field inline; Validate dry-runs it against the live environment. */
export function PolicyForm({ policy, readOnly }: PolicyFormProps) {
  const trpc = useTRPC();
  const router = useRouter();
  const units = useQuery(trpc.storageUnits.list.queryOptions());
  const settings = PolicySettingsSchema.parse(policy?.settings ?? {});
  const [f, setF] = useState<FormState>({
    name: policy?.name ?? '',
    description: policy?.description ?? '',
    enabled: policy?.enabled ?? true,
    schedule: policy?.schedule ?? '0 */4 * * *',
    timezone: policy?.timezone ?? 'UTC',
    names: policy?.selection.names.join(', ') ?? '',
    folders: policy?.selection.folders.join(', ') ?? '',
    tags: policy?.selection.tags.join(', ') ?? '',
    namePattern: policy?.selection.namePattern ?? '',
    storageUnitId: policy?.storageUnitId ?? '',
    transportOrder: settings.transportOrder.join(', '),
    quiesce: settings.quiesce,
    writeBackTimeoutSec: String(settings.writeBackTimeoutSec),
    allowBlacklistAdd: settings.allowBlacklistAdd,
    raiseHeartbeatThreshold: settings.raiseHeartbeatThreshold,
    maxConcurrentVms: String(settings.maxConcurrentVms),
  });
  const set = <K extends keyof FormState>(k: K, v: FormState[K]) => setF((x) => ({ ...x, [k]: v }));
  const storageUnitId = f.storageUnitId || units.data?.[0]?.id || '';
  const input: PolicyInput = {
    name: f.name,
    description: f.description,
    enabled: f.enabled,
    schedule: f.schedule,
    timezone: f.timezone,
    selection: { names: list(f.names), folders: list(f.folders), tags: list(f.tags), namePattern: f.namePattern.trim() || null },
    storageUnitId,
    settings: {
      transportOrder: list(f.transportOrder) as Array<'directsan' | 'hotadd' | 'nbd'>,
      quiesce: f.quiesce,
      writeBackTimeoutSec: Number(f.writeBackTimeoutSec),
      allowBlacklistAdd: f.allowBlacklistAdd,
      raiseHeartbeatThreshold: f.raiseHeartbeatThreshold,
      maxConcurrentVms: Number(f.maxConcurrentVms),
    },
  };
  const parsed = CreatePolicyInput.safeParse(input);
  const [touched, setTouched] = useState(false);
  const [serverErrors, setServerErrors] = useState<Record<string, string[]>>({});
  const errors = useMemo(() => {
    const e: Record<string, string> = {};
    if (!parsed.success) for (const i of parsed.error.issues) e[i.path.join('.')] ??= i.message;
    for (const [k, v] of Object.entries(serverErrors)) e[k] ??= v[0]!;
    return e;
  }, [parsed, serverErrors]);
  const err = (k: string) => (touched || serverErrors[k] ? errors[k] : undefined);
  const preview = useQuery(trpc.policies.previewSelection.queryOptions({ selection: input.selection }, { enabled: parsed.success || !errors['selection.namePattern'] }));
  const [validateOn, setValidateOn] = useState(false);
  const validation = useQuery(trpc.policies.validate.queryOptions({ selection: input.selection, settings: input.settings }, { enabled: validateOn && parsed.success }));
  const onSaved = (id: string) => {
    router.push(`/policies/${id}`);
    router.refresh();
  };
  const onError = (e: unknown) => {
    const data = (e as { data?: { fieldErrors?: Record<string, string[]> } }).data;
    setServerErrors(data?.fieldErrors ?? { _: [(e as Error).message] });
  };
  const create = useMutation(trpc.policies.create.mutationOptions({ onSuccess: (p) => onSaved(p.id), onError }));
  const update = useMutation(trpc.policies.update.mutationOptions({ onSuccess: (p) => onSaved(p.id), onError }));
  const del = useMutation(trpc.policies.delete.mutationOptions({ onSuccess: () => router.push('/policies'), onError }));
  const save = () => {
    setTouched(true);
    setServerErrors({});
    if (!parsed.success) return;
    if (policy) update.mutate({ id: policy.id, ...input });
    else create.mutate(input);
  };
  const ro = readOnly;
  return (
    <div className="space-y-5">
      <PageHeader
        title={policy ? policy.name : 'New policy'}
        subtitle={ro ? 'Read only: editing needs the admin role.' : 'Defaults protect production; the VM selection is evaluated each time the policy runs.'}
        actions={
          ro ? null : (
            <>
              <Button onClick={() => setValidateOn(true)} disabled={!parsed.success}>
                Validate
              </Button>
              <Button variant="primary" onClick={save} busy={create.isPending || update.isPending}>
                {policy ? 'Save' : 'Create policy'}
              </Button>
            </>
          )
        }
      />
      {errors._ ? (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
          {errors._}
        </p>
      ) : null}
      <fieldset disabled={ro} className="grid gap-5 lg:grid-cols-2">
        <Card title="Schedule">
          <div className="space-y-3">
            <Field label="Name" error={err('name')}>{(id) => <Input id={id} value={f.name} invalid={!!err('name')} onChange={(e) => set('name', e.target.value)} />}</Field>
            <Field label="Description">{(id) => <Input id={id} value={f.description} onChange={(e) => set('description', e.target.value)} />}</Field>
            <Field label="Schedule (cron)" error={err('schedule')} hint="minute hour day month weekday, e.g. 0 */4 * * * = every 4 hours">
              {(id) => <Input id={id} className="font-mono" value={f.schedule} invalid={!!err('schedule')} onChange={(e) => set('schedule', e.target.value)} />}
            </Field>
            <Field label="Time zone" error={err('timezone')}>{(id) => <Input id={id} value={f.timezone} invalid={!!err('timezone')} onChange={(e) => set('timezone', e.target.value)} />}</Field>
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" checked={f.enabled} onChange={(e) => set('enabled', e.target.checked)} /> Enabled
            </label>
          </div>
        </Card>
        <Card title="VMs">
          <div className="space-y-3">
            <Field label="Names" hint="comma-separated">{(id) => <Input id={id} value={f.names} onChange={(e) => set('names', e.target.value)} />}</Field>
            <Field label="Folders" error={err('selection.folders.0')} hint="e.g. /prod (includes subfolders)">{(id) => <Input id={id} value={f.folders} onChange={(e) => set('folders', e.target.value)} />}</Field>
            <Field label="Tags" hint="comma-separated">{(id) => <Input id={id} value={f.tags} onChange={(e) => set('tags', e.target.value)} />}</Field>
            <Field label="Name pattern" error={err('selection.namePattern')} hint="* any characters, ? one">{(id) => <Input id={id} value={f.namePattern} invalid={!!err('selection.namePattern')} onChange={(e) => set('namePattern', e.target.value)} />}</Field>
            <p className="text-xs text-slate-600" aria-live="polite">
              Selects now: {preview.data ? (preview.data.length ? preview.data.map((v) => v.name).join(', ') : 'no VM') : '…'}
            </p>
          </div>
        </Card>
        <Card title="Where and how">
          <div className="space-y-3">
            <Field label="Storage unit" error={err('storageUnitId')}>
              {(id) => (
                <Select id={id} value={storageUnitId} invalid={!!err('storageUnitId')} onChange={(e) => set('storageUnitId', e.target.value)}>
                  {units.data?.map((u) => (
                    <option key={u.id} value={u.id}>
                      {u.name} ({u.path})
                    </option>
                  ))}
                </Select>
              )}
            </Field>
            <Field label="Transport order" error={err('settings.transportOrder')} hint="preferred first: directsan, hotadd, nbd">
              {(id) => <Input id={id} value={f.transportOrder} invalid={!!err('settings.transportOrder')} onChange={(e) => set('transportOrder', e.target.value)} />}
            </Field>
            <Field label="Quiesce">
              {(id) => (
                <Select id={id} value={f.quiesce} onChange={(e) => set('quiesce', e.target.value as FormState['quiesce'])}>
                  <option value="preferred">Preferred (crash-consistent if the guest cannot)</option>
                  <option value="required">Required (fail the backup if the guest cannot)</option>
                  <option value="off">Off (crash-consistent)</option>
                </Select>
              )}
            </Field>
          </div>
        </Card>
        <Card title="Safety">
          <div className="space-y-3">
            <Field label="Write-back timeout (s)" error={err('settings.writeBackTimeoutSec')} hint="longest wait for a write-back VM to be clean before a DirectSAN snapshot">
              {(id) => <Input id={id} type="number" value={f.writeBackTimeoutSec} invalid={!!err('settings.writeBackTimeoutSec')} onChange={(e) => set('writeBackTimeoutSec', e.target.value)} />}
            </Field>
            <Field label="Concurrent VMs" error={err('settings.maxConcurrentVms')}>
              {(id) => <Input id={id} type="number" value={f.maxConcurrentVms} invalid={!!err('settings.maxConcurrentVms')} onChange={(e) => set('maxConcurrentVms', e.target.value)} />}
            </Field>
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" checked={f.allowBlacklistAdd} onChange={(e) => set('allowBlacklistAdd', e.target.checked)} /> The engine may add HotAdd proxies to the cache blacklist (audited)
            </label>
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" checked={f.raiseHeartbeatThreshold} onChange={(e) => set('raiseHeartbeatThreshold', e.target.checked)} /> Raise failover-cluster heartbeat thresholds during consolidation (always restored)
            </label>
          </div>
        </Card>
      </fieldset>
      {validateOn ? (
        <Card title="Validation against the live environment">
          {validation.isFetching && !validation.data ? (
            <p className="text-sm text-slate-600">Checking proxies, caches, quiesce and clusters…</p>
          ) : validation.error ? (
            <p className="text-sm text-red-700">{validation.error.message}</p>
          ) : validation.data ? (
            <div className="space-y-2">
              <p className="text-sm">{validation.data.ok ? <StatusBadge status="ok" label="Every selected VM can be backed up" /> : <StatusBadge status="failed" label="Some VMs would fail" />}</p>
              <Table label="Validation">
                <thead>
                  <tr>
                    <th className={th}>VM</th>
                    <th className={th}>Transport</th>
                    <th className={th}>Cache</th>
                    <th className={th}>Consistency</th>
                    <th className={th}>Stun</th>
                    <th className={th}>Problems</th>
                  </tr>
                </thead>
                <tbody>
                  {validation.data.vms.map((v) => (
                    <tr key={v.vmId}>
                      <td className={td}>{v.vmName}</td>
                      <td className={td}>{v.transport ? `${v.transport} via ${v.proxy}` : '—'}</td>
                      <td className={td}>{v.cache}</td>
                      <td className={td}>{v.consistency}</td>
                      <td className={td}>{v.stun ?? '—'}</td>
                      <td className={td}>{v.problems.length ? <span className="text-red-700">{v.problems.join('; ')}</span> : <StatusBadge status="ok" />}</td>
                    </tr>
                  ))}
                </tbody>
              </Table>
            </div>
          ) : null}
        </Card>
      ) : null}
      {policy && !ro ? (
        <Card title="Delete">
          <p className="mb-2 text-sm text-slate-600">Deleting a policy stops its schedule; restore points stay.</p>
          <ConfirmByName name={policy.name} action="Delete policy" busy={del.isPending} onConfirm={() => del.mutate({ id: policy.id, confirm: policy.name })} />
        </Card>
      ) : null}
    </div>
  );
}
