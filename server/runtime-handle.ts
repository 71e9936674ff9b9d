import type { Runtime } from './runtime';

/**
 * The process entry (server/main.ts) owns the runtime; the Next.js bundle (server components and
 * server actions) reaches it through this handle, so database, lab and engine exist once per process.
 */
const KEY = Symbol.for('quiesce.runtime');

type WithRuntime = typeof globalThis & { [KEY]?: Runtime };

export function setRuntime(rt: Runtime | null): void {
  (globalThis as WithRuntime)[KEY] = rt ?? undefined;
}

export function getRuntime(): Runtime {
  const rt = (globalThis as WithRuntime)[KEY];
  if (!rt) throw new Error('Quiesce is still starting (no runtime yet); retry in a few seconds');
  return rt;
}
