'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ArrowDown, ArrowUp, Check } from 'lucide-react';
import { useRouter } from 'next/navigation';
import { useMemo, useState } from 'react';
import { useTRPC } from '@/components/providers/trpc';
import { Button, Card, ConfirmByName, Field, Input, PageHeader, Select, StatusBadge, Table, cn, td, th } from '@/components/ui/primitives';
import { CreatePolicyInput, PolicySettingsSchema, type CreatePolicyInput as PolicyInput } from '@/server/policies/schemas';

const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

type Transport = 'directsan' | 'hotadd' | 'nbd';
const TRANSPORTS: Array<{ mode: Transport; label: string; hint: string }> = [
  { mode: 'directsan', label: 'DirectSAN', hint: 'a SAN-zoned proxy reads the LUN; write-back VMs get the write-through barrier' },
  { mode: 'hotadd', label: 'HotAdd', hint: 'a proxy VM attaches the disk; it must be on the cache blacklist for write-back VMs' },
  { mode: 'nbd', label: 'NBD', hint: 'the VM host streams the disk over the network (cache-consistent, slower)' },
];

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
  /** Every mode in the user's order, with whether it is allowed. */
  transports: Array<{ mode: Transport; on: boolean }>;
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

/** The wizard's steps and the input fields each one owns (error paths start with these). */
const STEPS = [
  { id: 'schedule', title: 'Schedule', fields: ['name', 'description', 'schedule', 'timezone', 'enabled'] },
  { id: 'vms', title: 'VMs', fields: ['selection'] },
  { id: 'target', title: 'Target and transport', fields: ['storageUnitId', 'settings.transportOrder', 'settings.quiesce'] },
  { id: 'safety', title: 'Safety and limits', fields: ['settings.writeBackTimeoutSec', 'settings.maxConcurrentVms', 'settings.allowBlacklistAdd', 'settings.raiseHeartbeatThreshold'] },
  { id: 'review', title: 'Review and validate', fields: [] },
] as const;

function initialTransports(order: Transport[]): FormState['transports'] {
  return [...order.map((mode) => ({ mode, on: true })), ...TRANSPORTS.filter((t) => !order.includes(t.mode)).map((t) => ({ mode: t.mode, on: false }))];
}

/**
 * Create and edit a policy as a wizard: schedule → VMs → target and transport → safety → review.
 * The domain's schema validates each step before the next; Validate dry-runs the policy against
 * the live environment and reports, per VM, what its backup would do.
 */
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
    transports: initialTransports(settings.transportOrder),
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
      transportOrder: f.transports.filter((t) => t.on).map((t) => t.mode),
      quiesce: f.quiesce,
      writeBackTimeoutSec: Number(f.writeBackTimeoutSec),
      allowBlacklistAdd: f.allowBlacklistAdd,
      raiseHeartbeatThreshold: f.raiseHeartbeatThreshold,
      maxConcurrentVms: Number(f.maxConcurrentVms),
    },
  };
  const parsed = CreatePolicyInput.safeParse(input);
  const [step, setStep] = useState(0);
  // Steps whose errors are shown: the ones the user tried to leave (or all, after a save attempt).
  const [shown, setShown] = useState<Set<number>>(new Set());
  const [serverErrors, setServerErrors] = useState<Record<string, string[]>>({});
  const errors = useMemo(() => {
    const e: Record<string, string> = {};
    if (!parsed.success) for (const i of parsed.error.issues) e[i.path.join('.')] ??= i.message;
    for (const [k, v] of Object.entries(serverErrors)) e[k] ??= v[0]!;
    return e;
  }, [parsed, serverErrors]);
  const stepOf = (path: string) => STEPS.findIndex((s) => s.fields.some((p) => path === p || path.startsWith(`${p}.`)));
  const stepErrors = (i: number) => Object.keys(errors).filter((k) => stepOf(k) === i);
  const err = (k: string) => (shown.has(stepOf(k)) || serverErrors[k] ? errors[k] : undefined);
  const preview = useQuery(trpc.policies.previewSelection.queryOptions({ selection: input.selection }, { enabled: !errors['selection.namePattern'] }));
  const [validateOn, setValidateOn] = useState(false);
  const validation = useQuery(trpc.policies.validate.queryOptions({ selection: input.selection, settings: input.settings }, { enabled: validateOn && parsed.success }));
  const qc = useQueryClient();
  // Every cached policy query (the list, this policy) is out of date after a change.
  const invalidate = () => qc.invalidateQueries(trpc.policies.pathFilter());
  const onSaved = (id: string) => {
    void invalidate();
    router.push(`/policies/${id}`);
    router.refresh();
  };
  const onError = (e: unknown) => {
    const data = (e as { data?: { fieldErrors?: Record<string, string[]> } }).data;
    setServerErrors(data?.fieldErrors ?? { _: [(e as Error).message] });
  };
  const create = useMutation(trpc.policies.create.mutationOptions({ onSuccess: (p) => onSaved(p.id), onError }));
  const update = useMutation(trpc.policies.update.mutationOptions({ onSuccess: (p) => onSaved(p.id), onError }));
  const del = useMutation(
    trpc.policies.delete.mutationOptions({
      onSuccess: () => {
        void invalidate();
        router.push('/policies');
      },
      onError,
    }),
  );
  const ro = readOnly;

  /** Moving forward checks the steps being left; an existing policy's steps can be visited in any order. */
  const goTo = (target: number) => {
    if (target > step) {
      const through = Array.from({ length: target - step }, (_, k) => step + k);
      setShown((s) => new Set([...s, ...through]));
      const blocked = through.find((i) => stepErrors(i).length > 0);
      if (blocked !== undefined && !policy) {
        setStep(blocked);
        return;
      }
    }
    setStep(target);
  };
  const save = () => {
    setShown(new Set(STEPS.map((_, i) => i)));
    setServerErrors({});
    if (!parsed.success) {
      const first = STEPS.findIndex((_, i) => stepErrors(i).length > 0);
      if (first >= 0) setStep(first);
      return;
    }
    if (policy) update.mutate({ id: policy.id, ...input });
    else create.mutate(input);
  };
  const moveTransport = (i: number, by: -1 | 1) => {
    const t = [...f.transports];
    const j = i + by;
    if (j < 0 || j >= t.length) return;
    [t[i], t[j]] = [t[j]!, t[i]!];
    set('transports', t);
  };
  const unitName = units.data?.find((u) => u.id === storageUnitId)?.name ?? '—';
  const isLast = step === STEPS.length - 1;

  return (
    <div className="space-y-5">
      <PageHeader
        title={policy ? policy.name : 'New policy'}
        subtitle={ro ? 'Read only: editing needs the admin role.' : 'Defaults protect production; the VM selection is evaluated each time the policy runs.'}
        actions={
          ro || !policy ? null : (
            <Button variant="primary" onClick={save} busy={update.isPending}>
              Save
            </Button>
          )
        }
      />
      {errors._ ? (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
          {errors._}
        </p>
      ) : null}
      <nav aria-label="Policy steps">
        <ol className="flex flex-wrap gap-2">
          {STEPS.map((s, i) => {
            const bad = shown.has(i) && stepErrors(i).length > 0;
            const done = shown.has(i) && !bad && i !== step;
            return (
              <li key={s.id}>
                <button
                  type="button"
                  onClick={() => goTo(i)}
                  aria-current={i === step ? 'step' : undefined}
                  className={cn(
                    'flex items-center gap-2 rounded-full border px-3 py-1 text-sm',
                    i === step ? 'border-sky-700 bg-sky-50 font-medium text-sky-900' : 'border-slate-300 bg-white text-slate-700 hover:bg-slate-50',
                    bad && 'border-red-400 text-red-800',
                  )}
                >
                  <span className={cn('flex size-5 items-center justify-center rounded-full text-xs', done ? 'bg-green-600 text-white' : bad ? 'bg-red-600 text-white' : 'bg-slate-200 text-slate-700')}>
                    {done ? <Check aria-hidden className="size-3" /> : i + 1}
                  </span>
                  {s.title}
                  {bad ? <span className="sr-only"> (needs attention)</span> : null}
                </button>
              </li>
            );
          })}
        </ol>
      </nav>
      <fieldset disabled={ro} className="space-y-5">
        {step === 0 ? (
          <Card title="1. Schedule">
            <div className="grid gap-3 md:grid-cols-2">
              <Field label="Name" error={err('name')}>{(id) => <Input id={id} value={f.name} invalid={!!err('name')} onChange={(e) => set('name', e.target.value)} />}</Field>
              <Field label="Description">{(id) => <Input id={id} value={f.description} onChange={(e) => set('description', e.target.value)} />}</Field>
              <Field label="Schedule (cron)" error={err('schedule')} hint="minute hour day month weekday, e.g. 0 */4 * * * = every 4 hours">
                {(id) => <Input id={id} className="font-mono" value={f.schedule} invalid={!!err('schedule')} onChange={(e) => set('schedule', e.target.value)} />}
              </Field>
              <Field label="Time zone" error={err('timezone')}>{(id) => <Input id={id} value={f.timezone} invalid={!!err('timezone')} onChange={(e) => set('timezone', e.target.value)} />}</Field>
              <label className="flex items-center gap-2 text-sm">
                <input type="checkbox" checked={f.enabled} onChange={(e) => set('enabled', e.target.checked)} /> Enabled (runs on its schedule)
              </label>
            </div>
          </Card>
        ) : null}
        {step === 1 ? (
          <Card title="2. VMs">
            <div className="grid gap-3 md:grid-cols-2">
              <Field label="Names" hint="comma-separated">{(id) => <Input id={id} value={f.names} onChange={(e) => set('names', e.target.value)} />}</Field>
              <Field label="Folders" error={err('selection.folders.0')} hint="e.g. /prod (includes subfolders)">{(id) => <Input id={id} value={f.folders} onChange={(e) => set('folders', e.target.value)} />}</Field>
              <Field label="Tags" hint="comma-separated">{(id) => <Input id={id} value={f.tags} onChange={(e) => set('tags', e.target.value)} />}</Field>
              <Field label="Name pattern" error={err('selection.namePattern')} hint="* any characters, ? one">{(id) => <Input id={id} value={f.namePattern} invalid={!!err('selection.namePattern')} onChange={(e) => set('namePattern', e.target.value)} />}</Field>
            </div>
            <p className="mt-3 text-xs text-slate-600" aria-live="polite">
              Selects now: {preview.data ? (preview.data.length ? preview.data.map((v) => v.name).join(', ') : 'no VM') : '…'} (evaluated again at every run)
            </p>
          </Card>
        ) : null}
        {step === 2 ? (
          <Card title="3. Target and transport">
            <div className="space-y-4">
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
              <div role="group" aria-labelledby="transport-order-label">
                <p id="transport-order-label" className="text-sm font-medium text-slate-800">
                  Transport order
                </p>
                <p className="text-xs text-slate-500">Tried first to last; a mode no proxy can serve falls through to the next, and the job says why.</p>
                <ol className="mt-2 space-y-1.5">
                  {f.transports.map((t, i) => {
                    const meta = TRANSPORTS.find((x) => x.mode === t.mode)!;
                    return (
                      <li key={t.mode} className="flex items-center gap-2 rounded-md border border-slate-200 px-2 py-1.5 text-sm">
                        <label className="flex flex-1 items-center gap-2">
                          <input
                            type="checkbox"
                            checked={t.on}
                            onChange={(e) => set('transports', f.transports.map((x) => (x.mode === t.mode ? { ...x, on: e.target.checked } : x)))}
                          />
                          <span className="font-medium">{meta.label}</span>
                          <span className="text-xs text-slate-500">{meta.hint}</span>
                        </label>
                        <Button variant="ghost" aria-label={`Move ${meta.label} up`} disabled={i === 0} onClick={() => moveTransport(i, -1)}>
                          <ArrowUp aria-hidden className="size-4" />
                        </Button>
                        <Button variant="ghost" aria-label={`Move ${meta.label} down`} disabled={i === f.transports.length - 1} onClick={() => moveTransport(i, 1)}>
                          <ArrowDown aria-hidden className="size-4" />
                        </Button>
                      </li>
                    );
                  })}
                </ol>
                {err('settings.transportOrder') ? <p className="mt-1 text-xs text-red-700">{err('settings.transportOrder')}</p> : null}
              </div>
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
        ) : null}
        {step === 3 ? (
          <Card title="4. Safety and limits">
            <div className="grid gap-3 md:grid-cols-2">
              <Field label="Write-back timeout (s)" error={err('settings.writeBackTimeoutSec')} hint="longest wait for a write-back VM to be clean before a DirectSAN snapshot; on timeout the job fails and the cache policy is restored">
                {(id) => <Input id={id} type="number" value={f.writeBackTimeoutSec} invalid={!!err('settings.writeBackTimeoutSec')} onChange={(e) => set('writeBackTimeoutSec', e.target.value)} />}
              </Field>
              <Field label="Concurrent VMs" error={err('settings.maxConcurrentVms')} hint="backups of this policy at once; proxy, storage, datastore and host limits apply too">
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
        ) : null}
      </fieldset>
      {isLast ? (
        <Card
          title="5. Review and validate"
          actions={
            <Button onClick={() => setValidateOn(true)} disabled={!parsed.success} busy={validation.isFetching}>
              Validate
            </Button>
          }
        >
          <dl className="grid gap-x-6 gap-y-1 text-sm md:grid-cols-2" aria-label="Policy summary">
            {[
              ['Name', f.name || '—'],
              ['Schedule', `${f.schedule} (${f.timezone})${f.enabled ? '' : ', disabled'}`],
              ['VMs now', preview.data ? preview.data.map((v) => v.name).join(', ') || 'no VM' : '…'],
              ['Storage unit', unitName],
              ['Transport order', input.settings!.transportOrder!.join(' → ') || 'none'],
              ['Quiesce', f.quiesce],
              ['Write-back timeout', `${f.writeBackTimeoutSec} s`],
              ['Concurrent VMs', f.maxConcurrentVms],
              ['Engine may blacklist proxies', f.allowBlacklistAdd ? 'yes' : 'no'],
              ['Raise heartbeat threshold', f.raiseHeartbeatThreshold ? 'yes' : 'no'],
            ].map(([k, v]) => (
              <div key={k} className="flex gap-2">
                <dt className="w-48 shrink-0 text-slate-500">{k}</dt>
                <dd className="text-slate-900">{v}</dd>
              </div>
            ))}
          </dl>
          {!parsed.success ? (
            <p className="mt-3 text-sm text-red-700">Some steps need attention before this policy can be validated or saved: {STEPS.filter((_, i) => stepErrors(i).length > 0).map((s) => s.title).join(', ')}.</p>
          ) : null}
          {validateOn ? (
            <div className="mt-4">
              {validation.isFetching && !validation.data ? (
                <p className="text-sm text-slate-600">Checking proxies, caches, quiesce and clusters…</p>
              ) : validation.error ? (
                <p className="text-sm text-red-700">{validation.error.message}</p>
              ) : validation.data ? (
                <div className="space-y-2">
                  <p className="text-sm">
                    {validation.data.vms.length === 0 ? (
                      <StatusBadge status="warning" label="The selection matches no VM right now" />
                    ) : validation.data.ok ? (
                      <StatusBadge status="ok" label={`Every selected VM can be backed up (${validation.data.vms.length})`} />
                    ) : (
                      <StatusBadge status="failed" label={`${validation.data.vms.filter((v) => !v.ok).length} of ${validation.data.vms.length} VMs would fail`} />
                    )}
                  </p>
                  <Table label="Validation">
                    <thead>
                      <tr>
                        <th className={th}>VM</th>
                        <th className={th}>Transport</th>
                        <th className={th}>Cache</th>
                        <th className={th}>Consistency</th>
                        <th className={th}>Stun</th>
                        <th className={th}>Verdict</th>
                      </tr>
                    </thead>
                    <tbody>
                      {validation.data.vms.map((v) => (
                        <tr key={v.vmId} data-vm={v.vmName}>
                          <td className={td}>{v.vmName}</td>
                          <td className={td}>
                            {v.transport ? `${v.transport} via ${v.proxy ?? 'host'}` : '—'}
                            {v.notes.length ? <p className="text-xs text-slate-500">{v.notes.join('; ')}</p> : null}
                          </td>
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
            </div>
          ) : null}
        </Card>
      ) : null}
      <div className="flex items-center justify-between">
        <Button disabled={step === 0} onClick={() => setStep(step - 1)}>
          Back
        </Button>
        {isLast ? (
          policy || ro ? null : (
              <Button variant="primary" onClick={save} busy={create.isPending}>
                Create policy
              </Button>
            )
        ) : (
          <Button variant="primary" onClick={() => goTo(step + 1)}>
            Next: {STEPS[step + 1]!.title}
          </Button>
        )}
      </div>
      {policy && !ro ? (
        <Card title="Delete">
          <p className="mb-2 text-sm text-slate-600">Deleting a policy stops its schedule; restore points stay.</p>
          <ConfirmByName name={policy.name} action="Delete policy" busy={del.isPending} onConfirm={() => del.mutate({ id: policy.id, confirm: policy.name })} />
        </Card>
      ) : null}
    </div>
  );
}
