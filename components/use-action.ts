'use client';
import { useCallback, useState } from 'react';
import type { ActionResult } from '@/server/actions/_client';

/** Runs a server action with busy and error state. */
export function useAction<I, T>(action: (input: I) => Promise<ActionResult<T>>, opts: { onSuccess?: (data: T) => void } = {}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ code: string; message: string; fieldErrors?: Record<string, string[]> } | null>(null);
  const run = useCallback(
    async (input: I) => {
      setBusy(true);
      setError(null);
      try {
        const r = await action(input);
        if (r.ok) opts.onSuccess?.(r.data);
        else setError(r.error);
        return r;
      } catch (e) {
        const err = { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
        setError(err);
        return { ok: false as const, error: err };
      } finally {
        setBusy(false);
      }
    },
    [action, opts],
  );
  return { run, busy, error };
}
