'use client';
import { clsx } from 'clsx';
import { AlertTriangle, CheckCircle2, CircleDashed, Clock, Loader2, PauseCircle, Undo2, XCircle } from 'lucide-react';
import { useEffect, useId, useState, type ButtonHTMLAttributes, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from 'react';
import { formatAbsolute, formatRelative } from '@/components/format';

export function cn(...xs: Array<string | false | null | undefined>): string {
  return clsx(xs);
}

type Variant = 'primary' | 'secondary' | 'danger' | 'ghost';
const VARIANTS: Record<Variant, string> = {
  primary: 'bg-sky-700 text-white hover:bg-sky-800 disabled:bg-sky-300',
  secondary: 'border border-slate-300 bg-white text-slate-800 hover:bg-slate-50 disabled:text-slate-400',
  danger: 'bg-red-700 text-white hover:bg-red-800 disabled:bg-red-300',
  ghost: 'text-slate-700 hover:bg-slate-100',
};

export function Button({ variant = 'secondary', busy, className, children, ...rest }: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant; busy?: boolean }) {
  return (
    <button
      {...rest}
      disabled={rest.disabled || busy}
      className={cn('inline-flex items-center gap-1.5 rounded-md px-3 py-1.5 text-sm font-medium transition-colors disabled:cursor-not-allowed', VARIANTS[variant], className)}
    >
      {busy ? <Loader2 aria-hidden className="size-4 animate-spin" /> : null}
      {children}
    </button>
  );
}

export function Card({ title, actions, children, className }: { title?: ReactNode; actions?: ReactNode; children: ReactNode; className?: string }) {
  return (
    <section className={cn('rounded-lg border border-slate-200 bg-white shadow-sm', className)}>
      {title || actions ? (
        <header className="flex items-center justify-between gap-2 border-b border-slate-100 px-4 py-2.5">
          <h2 className="text-sm font-semibold text-slate-800">{title}</h2>
          <div className="flex items-center gap-2">{actions}</div>
        </header>
      ) : null}
      <div className="p-4">{children}</div>
    </section>
  );
}

export function PageHeader({ title, subtitle, actions }: { title: string; subtitle?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-5 flex flex-wrap items-end justify-between gap-3">
      <div>
        <h1 className="text-xl font-semibold text-slate-900">{title}</h1>
        {subtitle ? <p className="mt-0.5 text-sm text-slate-600">{subtitle}</p> : null}
      </div>
      <div className="flex items-center gap-2">{actions}</div>
    </div>
  );
}

/** The same colours, icons and words for a status everywhere. */
const STATUS: Record<string, { cls: string; icon: typeof CheckCircle2; word: string }> = {
  succeeded: { cls: 'bg-green-50 text-green-800 ring-green-600/20', icon: CheckCircle2, word: 'Succeeded' },
  completed: { cls: 'bg-green-50 text-green-800 ring-green-600/20', icon: CheckCircle2, word: 'Done' },
  protected: { cls: 'bg-green-50 text-green-800 ring-green-600/20', icon: CheckCircle2, word: 'Protected' },
  consistent: { cls: 'bg-green-50 text-green-800 ring-green-600/20', icon: CheckCircle2, word: 'Verified' },
  ok: { cls: 'bg-green-50 text-green-800 ring-green-600/20', icon: CheckCircle2, word: 'OK' },
  failed: { cls: 'bg-red-50 text-red-800 ring-red-600/20', icon: XCircle, word: 'Failed' },
  unprotected: { cls: 'bg-red-50 text-red-800 ring-red-600/20', icon: XCircle, word: 'Unprotected' },
  inconsistent: { cls: 'bg-red-50 text-red-800 ring-red-600/20', icon: XCircle, word: 'Not verified' },
  running: { cls: 'bg-sky-50 text-sky-800 ring-sky-600/20', icon: Loader2, word: 'Running' },
  compensating: { cls: 'bg-amber-50 text-amber-800 ring-amber-600/30', icon: Undo2, word: 'Undoing' },
  retrying: { cls: 'bg-amber-50 text-amber-800 ring-amber-600/30', icon: Clock, word: 'Waiting' },
  'at-risk': { cls: 'bg-amber-50 text-amber-800 ring-amber-600/30', icon: AlertTriangle, word: 'At risk' },
  warning: { cls: 'bg-amber-50 text-amber-800 ring-amber-600/30', icon: AlertTriangle, word: 'Warning' },
  skipped: { cls: 'bg-amber-50 text-amber-800 ring-amber-600/30', icon: Clock, word: 'Waited' },
  queued: { cls: 'bg-slate-100 text-slate-700 ring-slate-500/20', icon: CircleDashed, word: 'Queued' },
  cancelled: { cls: 'bg-slate-100 text-slate-700 ring-slate-500/20', icon: PauseCircle, word: 'Cancelled' },
  idle: { cls: 'bg-slate-100 text-slate-700 ring-slate-500/20', icon: CircleDashed, word: 'Idle' },
};

export function StatusBadge({ status, label }: { status: string; label?: string }) {
  const s = STATUS[status] ?? STATUS.idle!;
  const Icon = s.icon;
  return (
    <span className={cn('inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset whitespace-nowrap', s.cls)}>
      <Icon aria-hidden className={cn('size-3.5', status === 'running' && 'animate-spin')} />
      {label ?? s.word}
    </span>
  );
}

export function EmptyState({ title, hint, action }: { title: string; hint?: ReactNode; action?: ReactNode }) {
  return (
    <div className="flex flex-col items-center gap-2 rounded-md border border-dashed border-slate-300 px-6 py-10 text-center">
      <p className="text-sm font-medium text-slate-800">{title}</p>
      {hint ? <p className="max-w-md text-sm text-slate-600">{hint}</p> : null}
      {action}
    </div>
  );
}

export function Skeleton({ rows = 4, className }: { rows?: number; className?: string }) {
  return (
    <div aria-busy="true" aria-label="Loading" className={cn('space-y-2', className)}>
      {Array.from({ length: rows }, (_, i) => (
        <div key={i} className="h-5 animate-pulse rounded bg-slate-200" style={{ width: `${90 - ((i * 17) % 40)}%` }} />
      ))}
    </div>
  );
}

export function ErrorPanel({ error, what, onRetry }: { error: unknown; what: string; onRetry?: () => void }) {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { data?: { code?: string } })?.data?.code;
  const hint = code === 'UNAUTHORIZED' ? 'Your session ended: sign in again.' : code === 'FORBIDDEN' ? 'Your role does not allow this; ask an admin.' : code === 'NOT_FOUND' ? 'It may have been removed; go back to the list.' : 'Check that the Quiesce server is running, then retry.';
  return (
    <div role="alert" className="rounded-md border border-red-200 bg-red-50 p-4 text-sm text-red-900">
      <p className="font-medium">Could not load {what}.</p>
      <p className="mt-1">{message}</p>
      <p className="mt-1 text-red-800">{hint}</p>
      {onRetry ? (
        <Button className="mt-2" onClick={onRetry}>
          Retry
        </Button>
      ) : null}
    </div>
  );
}

export function ProgressBar({ value, label }: { value: number; label: string }) {
  return (
    <div className="flex items-center gap-2">
      <div role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(value)} className="h-2 w-24 overflow-hidden rounded bg-slate-200">
        <div className="h-full bg-sky-600 transition-all" style={{ width: `${value}%` }} />
      </div>
      <span className="text-xs tabular-nums text-slate-600">{Math.round(value)}%</span>
    </div>
  );
}

/** Relative time, with the absolute time on hover; re-renders every 15 s. */
export function RelativeTime({ at }: { at: Date | string | number | null | undefined }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 15_000);
    return () => clearInterval(t);
  }, []);
  if (!at) return <span className="text-slate-400">—</span>;
  return (
    <time dateTime={new Date(at).toISOString()} title={formatAbsolute(at)}>
      {formatRelative(at, now)}
    </time>
  );
}

export function Field({ label, error, hint, children, id }: { label: string; error?: string | undefined; hint?: ReactNode; children: (id: string) => ReactNode; id?: string }) {
  const auto = useId();
  const fid = id ?? auto;
  return (
    <div className="space-y-1">
      <label htmlFor={fid} className="block text-sm font-medium text-slate-800">
        {label}
      </label>
      {children(fid)}
      {error ? (
        <p className="text-xs text-red-700" role="alert">
          {error}
        </p>
      ) : hint ? (
        <p className="text-xs text-slate-500">{hint}</p>
      ) : null}
    </div>
  );
}

export function Input(props: InputHTMLAttributes<HTMLInputElement> & { invalid?: boolean }) {
  const { invalid, className, ...rest } = props;
  return (
    <input
      {...rest}
      aria-invalid={invalid || undefined}
      className={cn('block w-full rounded-md border px-2.5 py-1.5 text-sm shadow-sm', invalid ? 'border-red-400' : 'border-slate-300', className)}
    />
  );
}

export function Select(props: SelectHTMLAttributes<HTMLSelectElement> & { invalid?: boolean }) {
  const { invalid, className, ...rest } = props;
  return <select {...rest} aria-invalid={invalid || undefined} className={cn('block w-full rounded-md border bg-white px-2.5 py-1.5 text-sm shadow-sm', invalid ? 'border-red-400' : 'border-slate-300', className)} />;
}

/** Destructive actions confirm by typing the name. */
export function ConfirmByName({ name, action, onConfirm, busy }: { name: string; action: string; onConfirm: () => void; busy?: boolean }) {
  const [open, setOpen] = useState(false);
  const [typed, setTyped] = useState('');
  if (!open)
    return (
      <Button variant="danger" onClick={() => setOpen(true)}>
        {action}
      </Button>
    );
  return (
    <div role="dialog" aria-label={`${action} ${name}`} className="flex flex-wrap items-center gap-2 rounded-md border border-red-200 bg-red-50 p-2">
      <label className="text-sm text-red-900">
        Type <strong>{name}</strong> to confirm
        <Input aria-label={`Type ${name} to confirm`} className="mt-1 w-48" value={typed} onChange={(e) => setTyped(e.target.value)} autoFocus />
      </label>
      <Button variant="danger" disabled={typed !== name} busy={busy} onClick={onConfirm}>
        {action}
      </Button>
      <Button
        variant="ghost"
        onClick={() => {
          setOpen(false);
          setTyped('');
        }}
      >
        Cancel
      </Button>
    </div>
  );
}

export function Table({ children, label }: { children: ReactNode; label: string }) {
  return (
    <div className="overflow-x-auto">
      <table aria-label={label} className="w-full border-collapse text-left text-sm">
        {children}
      </table>
    </div>
  );
}

export const th = 'border-b border-slate-200 px-2 py-1.5 text-xs font-semibold uppercase tracking-wide text-slate-500';
export const td = 'border-b border-slate-100 px-2 py-1.5 align-middle';
