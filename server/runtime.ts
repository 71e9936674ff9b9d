import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '@/env';
import { openDatabase, type DatabaseHandle } from '@/db/client';
import { createAuth, type Auth } from '@/server/auth/auth';
import { resolveActor } from '@/server/auth/users';
import type { Actor, ServiceContext, ServiceDeps } from '@/server/context';
import type { Connectors } from '@/server/connectors/types';
import { jobRegistry } from '@/server/engine/jobs';
import { startOrphanSweeper } from '@/server/engine/orphans';
import { createRunner, type Runner } from '@/server/engine/runner';
import { createScheduler, type Scheduler } from '@/server/engine/scheduler';
import type { LabHandle } from '@/server/lab-handle';
import { realClock, type Clock } from '@/server/lib/clock';
import { acquireDataDirLock, type DataDirLock } from '@/server/lib/data-dir-lock';
import { createLogger, type Logger } from '@/server/lib/logger';
import type { Repository } from '@/server/repository/types';
import { createStorageRegistry, type StorageUnitRow } from '@/server/storage/registry';
import { createCaller } from '@/server/api/root';
import { bootstrap, type BootstrapReport } from './bootstrap';

/** The outside world of this process: hypervisor/cache/guest connectors and, for the lab, its handle. */
export interface Environment {
  connectors: Connectors;
  lab: LabHandle | null;
  start(): Promise<void> | void;
  stop(): Promise<void>;
}

export interface RepositoryBackend {
  open(unit: StorageUnitRow): Promise<Repository>;
  init(path: string): Promise<void>;
}

export interface RuntimeOptions {
  config: Config;
  /** Who owns the data directory: the server, or a CLI command working without one. */
  purpose: 'server' | 'cli' | 'test';
  clock?: Clock;
  logger?: Logger;
  createEnvironment: (args: { config: Config; clock: Clock; logger: Logger }) => Promise<Environment>;
  repositories: RepositoryBackend;
  /** Run the engine's lease loop in this process (restricted to some job ids for the CLI). */
  engine?: { enabled: boolean; onlyJobIds?: () => string[] | null; concurrency?: number; leaseMs?: number };
  scheduler?: boolean;
  /** Create the admin, default storage unit and policy on first start. */
  bootstrap?: boolean;
  /** Server URL written into the lock file so CLIs know where the owner listens. */
  url?: string | null;
}

export interface Runtime {
  config: Config;
  logger: Logger;
  clock: Clock;
  database: DatabaseHandle;
  auth: Auth;
  deps: ServiceDeps;
  environment: Environment;
  runner: Runner | null;
  scheduler: Scheduler | null;
  bootstrapReport: BootstrapReport | null;
  serviceContext(actor: Actor, requestId?: string): ServiceContext;
  /** The API as in-process calls, as this actor (server actions, the local CLI, tests). */
  caller(actor: Actor, requestId?: string): ReturnType<typeof createCaller>;
  actorFromHeaders(headers: Headers): Promise<Actor>;
  health(): Promise<HealthReport>;
  close(): Promise<void>;
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  database: { ok: boolean; driver: string; error?: string };
  engine: { ok: boolean; running: boolean; workerId: string | null; activeJobs: number };
  lab: { ok: boolean; enabled: boolean; error?: string };
}

function loadOrCreateSecret(config: Config): string {
  if (config.authSecret) return config.authSecret;
  const file = path.join(config.dataDir, 'auth-secret');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    const secret = randomBytes(32).toString('hex');
    fs.mkdirSync(config.dataDir, { recursive: true });
    fs.writeFileSync(file, secret, { mode: 0o600 });
    return secret;
  }
}

/** Builds the whole process: database, auth, environment (lab), storage, engine, scheduler. */
export async function createRuntime(opts: RuntimeOptions): Promise<Runtime> {
  const { config } = opts;
  const clock = opts.clock ?? realClock;
  const logger = opts.logger ?? createLogger({ level: config.logLevel });
  const cleanups: Array<() => Promise<void> | void> = [];
  const runCleanups = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        logger.error({ err: e }, 'shutdown step failed');
      }
    }
    cleanups.length = 0;
  };

  try {
    fs.mkdirSync(config.dataDir, { recursive: true });
    let lock: DataDirLock | null = null;
    // The data directory holds the embedded database and the lab: exactly one process may own it.
    lock = acquireDataDirLock(config.dataDir, opts.purpose, opts.url ?? null);
    cleanups.push(() => lock?.release());

    const database = await openDatabase({ url: config.databaseUrl, pgliteDir: path.join(config.dataDir, 'pg'), logger });
    cleanups.push(() => database.close());
    await database.migrate();

    const auth = createAuth({ db: database.db, secret: loadOrCreateSecret(config), baseURL: config.publicUrl, trustedOrigins: [config.publicUrl, `http://127.0.0.1:${config.port}`, `http://localhost:${config.port}`], logger });

    const environment = await opts.createEnvironment({ config, clock, logger });
    cleanups.push(() => environment.stop());

    const storage = createStorageRegistry({ db: database.db, open: opts.repositories.open, init: opts.repositories.init });
    cleanups.push(() => storage.closeAll());

    const deps: ServiceDeps = { config, auth, connectors: environment.connectors, storage, lab: environment.lab };

    const serviceContext = (actor: Actor, requestId?: string): ServiceContext => ({
      actor,
      db: database.db,
      logger: logger.child({ requestId: requestId ?? randomUUID() }),
      requestId: requestId ?? randomUUID(),
      clock,
      deps,
    });

    const bootstrapReport = opts.bootstrap ? await bootstrap({ ctx: serviceContext({ kind: 'system', component: 'bootstrap' }), auth, repositories: opts.repositories }) : null;

    await environment.start();

    let runner: Runner | null = null;
    if (opts.engine?.enabled) {
      runner = createRunner({
        db: database.db,
        clock,
        logger,
        deps,
        registry: jobRegistry,
        concurrency: opts.engine.concurrency ?? config.engine.concurrency,
        ...(opts.engine.leaseMs ? { leaseMs: opts.engine.leaseMs } : {}),
        ...(opts.engine.onlyJobIds ? { onlyJobIds: opts.engine.onlyJobIds } : {}),
      });
      await runner.start();
      const r = runner;
      cleanups.push(() => r.stop({ drainMs: 5_000 }));
      const sweeper = startOrphanSweeper(serviceContext({ kind: 'system', component: 'orphan sweep' }), 60_000);
      cleanups.push(() => sweeper.stop());
    }

    let scheduler: Scheduler | null = null;
    if (opts.scheduler) {
      scheduler = createScheduler({ db: database.db, clock, logger, onQueued: () => runner?.wake() });
      scheduler.start();
      const s = scheduler;
      cleanups.push(() => s.stop());
    }

    return {
      config,
      logger,
      clock,
      database,
      auth,
      deps,
      environment,
      runner,
      scheduler,
      bootstrapReport,
      serviceContext,
      caller: (actor, requestId) => createCaller({ service: serviceContext(actor, requestId) }),
      actorFromHeaders: (headers) => resolveActor(auth, database.db, headers),
      async health() {
        const db = await database.ping().then(
          () => ({ ok: true, driver: database.driver }),
          (e: Error) => ({ ok: false, driver: database.driver, error: e.message }),
        );
        const lab = environment.lab
          ? await environment.lab.inspect().then(
              () => ({ ok: true, enabled: true }),
              (e: Error) => ({ ok: false, enabled: true, error: e.message }),
            )
          : { ok: true, enabled: false };
        const engine = { ok: runner !== null || !opts.engine?.enabled, running: runner !== null, workerId: runner?.workerId ?? null, activeJobs: runner?.activeJobIds().length ?? 0 };
        return { status: db.ok && lab.ok && engine.ok ? 'ok' : 'degraded', database: db, engine, lab };
      },
      close: runCleanups,
    };
  } catch (e) {
    await runCleanups();
    throw e;
  }
}
