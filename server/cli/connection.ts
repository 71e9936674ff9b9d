import fs from 'node:fs';
import { createTRPCClient, httpBatchLink, unstable_localLink, type TRPCClient } from '@trpc/client';
import superjson from 'superjson';
import { loadConfig, type Config } from '@/env';
import type { AppRouter } from '@/server/api/root';
import { cliTokenFile } from '@/server/bootstrap';
import { readLockOwner } from '@/server/lib/data-dir-lock';
import { createLogger } from '@/server/lib/logger';
import type { Runtime } from '@/server/runtime';
import { UsageError } from './output';

export type Api = TRPCClient<AppRouter>;

export interface Connection {
  api: Api;
  mode: 'remote' | 'local';
  config: Config;
  /** Local mode only: let the in-process engine run these jobs (it runs nothing else). */
  allowJobs(...ids: string[]): void;
  close(): Promise<void>;
}

async function serverAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(1500) });
    return res.status === 200 || res.status === 503;
  } catch {
    return false;
  }
}

export function cliConfig(globalOpts: { dataDir?: string }): Config {
  const env = { ...process.env };
  if (globalOpts.dataDir) env.QUIESCE_DATA_DIR = globalOpts.dataDir;
  return loadConfig(env);
}

/**
 * The CLI talks to the running server over HTTP when one owns the data directory (or answers at
 * QUIESCE_URL); otherwise it takes the data directory's lock and runs the same API in-process.
 */
export async function connect(globalOpts: { dataDir?: string }, opts: { engine?: boolean } = {}): Promise<Connection> {
  const config = cliConfig(globalOpts);
  const owner = readLockOwner(config.dataDir);
  const url = owner?.purpose === 'server' && owner.url ? owner.url : (await serverAnswers(config.serverUrl)) ? config.serverUrl : null;
  if (url) {
    const token = config.token ?? (fs.existsSync(cliTokenFile(config.dataDir)) ? fs.readFileSync(cliTokenFile(config.dataDir), 'utf8').trim() : undefined);
    if (!token) throw new UsageError(`a server runs at ${url} but no API token was found: set QUIESCE_TOKEN or use --data-dir with the server's data directory`);
    const api = createTRPCClient<AppRouter>({
      links: [httpBatchLink({ url: `${url}/api/trpc`, transformer: superjson, headers: () => ({ authorization: `Bearer ${token}` }) })],
    });
    return { api, mode: 'remote', config, allowJobs: () => undefined, close: async () => undefined };
  }
  if (owner) throw new UsageError(`data directory ${config.dataDir} is in use by process ${owner.pid} (${owner.purpose}); wait for it or use another --data-dir`);

  // No server: own the data directory for the duration of this command.
  const allowed = new Set<string>();
  const { createRuntime } = await import('@/server/runtime');
  const { createProcessEnvironment } = await import('@/server/environment');
  const { filesystemRepositories } = await import('@/server/storage/filesystem-backend');
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', destination: process.stderr as never });
  const rt: Runtime = await createRuntime({
    config,
    purpose: 'cli',
    logger,
    createEnvironment: createProcessEnvironment,
    repositories: filesystemRepositories,
    engine: { enabled: opts.engine ?? true, onlyJobIds: () => [...allowed] },
    scheduler: false,
    bootstrap: true,
  });
  const admin = rt.bootstrapReport?.admin;
  if (admin) process.stderr.write(`quiesce: initialised ${config.dataDir}; admin ${admin.email} / ${admin.password}${admin.generated ? ' (generated)' : ''}\n`);
  const { appRouter } = await import('@/server/api/root');
  const api = createTRPCClient<AppRouter>({
    links: [unstable_localLink({ router: appRouter, transformer: superjson, createContext: async () => ({ service: rt.serviceContext({ kind: 'cli' }) }) })],
  });
  return {
    api,
    mode: 'local',
    config,
    allowJobs: (...ids) => {
      for (const id of ids) allowed.add(id);
      rt.runner?.wake();
    },
    close: () => rt.close(),
  };
}

/** Runs `fn` with a connection and always closes it (the local runtime holds the data directory). */
export async function withConnection<T>(globalOpts: { dataDir?: string }, fn: (c: Connection) => Promise<T>, opts: { engine?: boolean } = {}): Promise<T> {
  const c = await connect(globalOpts, opts);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

type JobDetail = Awaited<ReturnType<Api['jobs']['get']['query']>>;

/** Polls a job until it ends (the engine runs it in the server, or in this process in local mode). */
export async function waitForJobEnd(c: Connection, id: string, onProgress?: (d: JobDetail) => void): Promise<JobDetail> {
  c.allowJobs(id);
  for (;;) {
    const d = await c.api.jobs.get.query({ id });
    onProgress?.(d);
    if (['succeeded', 'failed', 'cancelled'].includes(d.job.status)) return d;
    await new Promise((r) => setTimeout(r, 300));
  }
}
