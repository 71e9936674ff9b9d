import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq, notInArray, sql } from 'drizzle-orm';
import { openDatabase } from '@/db/client';
import { jobs, policies, restorePoints, storageUnits } from '@/db/schema';
import type { Config } from '@/env';
import type { Connectors, TransportMode } from '@/server/connectors/types';
import type { ServiceContext, ServiceDeps } from '@/server/context';
import { enqueueJob } from '@/server/engine/client';
import { jobRegistry } from '@/server/engine/jobs';
import { sweepOrphans } from '@/server/engine/orphans';
import { createRunner, type Runner } from '@/server/engine/runner';
import { TERMINAL_STATUSES } from '@/server/engine/statuses';
import type { LabHandle } from '@/server/lab-handle';
import { createScaledClock, type Clock } from '@/server/lib/clock';
import type { Logger } from '@/server/lib/logger';
import { PolicySettingsSchema } from '@/server/policies/schemas';
import type { Repository } from '@/server/repository/types';
import { createStorageRegistry } from '@/server/storage/registry';
import { seededRandom } from '@/server/lib/random';

export interface ChaosOptions {
  seed: number;
  minutes: number;
  coordination: boolean;
  crashEngine: number;
  /** Lab milliseconds per wall millisecond. */
  speed: number;
  /** Keep the run's files here (default: a temp dir, removed at the end). */
  keepDir?: string | undefined;
  logger: Logger;
  config: Config;
  onProgress?: (line: string) => void;
}

/** What the chaos harness needs from the lab beyond the connectors. */
export interface ChaosLab {
  connectors: Connectors;
  handle: LabHandle;
  start(): void;
  stop(): Promise<void>;
  metrics(): Promise<{ leftoverSnapshots: number; vmsWithWrongCachePolicy: number; drsPinsLeft: number; failovers: number; riskyMoves: number }>;
}

export interface ChaosReport {
  restorePoints: number;
  consistent: number;
  inconsistent: number;
  leftoverSnapshots: number;
  vmsWithWrongCachePolicy: number;
  drsPinsLeft: number;
  nonTerminalJobs: number;
  failovers: number;
  riskyMoves: number;
  seed: number;
  minutes: number;
  coordination: boolean;
  engineCrashes: number;
  jobs: Record<string, number>;
  transports: Record<string, { points: number; inconsistent: number }>;
  medianWriteThroughWindowMs: number | null;
  /** Median time the DirectSAN jobs waited for the cache to destage (lab ms): the window's floor. */
  medianDestageMs: number | null;
  orphanSweep: { snapshotsRemoved: number; overridesRestored: number; pinsRemoved: number };
  wallSeconds: number;
}

export interface ChaosEnvironmentFactory {
  (args: { dir: string; seed: number; minutes: number; clock: Clock; logger: Logger }): Promise<ChaosLab>;
}

export interface RepositoryFactory {
  init(dir: string): Promise<void>;
  open(dir: string): Promise<Repository>;
}

/** Transport orders the harness spreads VMs over, so every mode carries backups. */
const TRANSPORT_MIXES: TransportMode[][] = [['directsan', 'hotadd', 'nbd'], ['hotadd', 'nbd'], ['nbd']];

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * A fresh lab on a fast-forward clock, backups through the real engine over every transport mode,
 * K engine kills at seeded random instants (each followed by a new engine taking over), then every
 * restore point restored (as a hash stream) and checked against the lab's oracle.
 */
export async function runChaos(opts: ChaosOptions, createLab: ChaosEnvironmentFactory, repos: RepositoryFactory): Promise<ChaosReport> {
  const wallStart = Date.now();
  const rand = seededRandom(opts.seed * 7919 + 17);
  const dir = opts.keepDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `quiesce-chaos-${opts.seed}-`));
  fs.mkdirSync(dir, { recursive: true });
  const clock = createScaledClock(opts.speed);
  const log = opts.logger;
  let t0 = clock.now();
  const say = (s: string) => opts.onProgress?.(`[lab +${((clock.now() - t0) / 60_000).toFixed(1)} min, wall ${Math.round((Date.now() - wallStart) / 1000)} s] ${s}`);

  const database = await openDatabase({ pgliteDir: path.join(dir, 'pg') });
  await database.migrate();
  const db = database.db;
  const lab = await createLab({ dir: path.join(dir, 'lab'), seed: opts.seed, minutes: opts.minutes, clock, logger: log });
  const repoDir = path.join(dir, 'repo');
  await repos.init(repoDir);
  const [unit] = await db.insert(storageUnits).values({ name: 'chaos', path: repoDir, maxConcurrentJobs: 4 }).returning();
  const storage = createStorageRegistry({ db, open: (u) => repos.open(u.path), init: repos.init });
  const deps: ServiceDeps = { config: opts.config, auth: null, connectors: lab.connectors, storage, lab: lab.handle };
  const systemCtx: ServiceContext = { actor: { kind: 'system', component: 'chaos' }, db, logger: log, requestId: `chaos-${opts.seed}`, clock, deps };

  const policyIds: string[] = [];
  for (const [i, order] of TRANSPORT_MIXES.entries()) {
    const [p] = await db
      .insert(policies)
      .values({
        name: `chaos-${i}-${order.join('-')}`,
        schedule: '0 0 1 1 *',
        selection: { names: [], folders: [], tags: [], namePattern: '*' },
        storageUnitId: unit!.id,
        // A careful engine may blacklist HotAdd proxies itself and raises heartbeat thresholds for consolidation.
        settings: PolicySettingsSchema.parse({ transportOrder: order, quiesce: 'preferred', writeBackTimeoutSec: 120, allowBlacklistAdd: true, raiseHeartbeatThreshold: true, maxConcurrentVms: 4 }),
      })
      .returning();
    policyIds.push(p!.id);
  }

  const newRunner = async (n: number): Promise<Runner> => {
    const r = createRunner({ db, clock, logger: log, deps, registry: jobRegistry, workerId: `chaos-engine-${n}`, concurrency: 3, leaseMs: 30_000, pollMs: 1_000, isProcessAlive: () => true });
    await r.start();
    return r;
  };

  lab.start();
  // The run's minutes start once the data center is built.
  t0 = clock.now();
  const endAt = t0 + opts.minutes * 60_000;
  let engineNo = 1;
  let runner = await newRunner(engineNo);
  const crashTimes = Array.from({ length: opts.crashEngine }, () => t0 + (0.1 + rand() * 0.7) * (endAt - t0)).sort((a, b) => a - b);
  let crashes = 0;

  // Every VM is backed up every few lab minutes, in a seeded order, with a seeded transport mix.
  const inv = await lab.connectors.hypervisor.inventory();
  const workloads = inv.vms.filter((v) => !v.isProxy);
  const nextBackup = new Map(workloads.map((v) => [v.id, t0 + rand() * 120_000]));
  const intervalMs = Math.max(120_000, (opts.minutes * 60_000) / 5);
  say(`${workloads.length} VMs, ${opts.crashEngine} engine crashes, coordination ${opts.coordination ? 'on' : 'off'}`);
  let enqueued = 0;
  while (clock.now() < endAt) {
    const now = clock.now();
    for (const vm of workloads) {
      if ((nextBackup.get(vm.id) ?? Infinity) > now) continue;
      nextBackup.set(vm.id, now + intervalMs * (0.75 + rand() * 0.5));
      const policyId = policyIds[Math.floor(rand() * policyIds.length)]!;
      await enqueueJob(db, clock, {
        type: 'backup.vm',
        input: { vmId: vm.id, storageUnitId: unit!.id, policyId, trigger: 'chaos', coordination: opts.coordination },
        vmId: vm.id,
        vmName: vm.name,
        policyId,
        storageUnitId: unit!.id,
      });
      enqueued++;
    }
    runner.wake();
    if (crashTimes.length > 0 && now >= crashTimes[0]!) {
      crashTimes.shift();
      // Kill it in the middle of some work: wait (a little) for a job in flight, then a random moment later.
      for (let i = 0; i < 30 && runner.activeJobIds().length === 0; i++) await clock.sleep(1_000);
      await clock.sleep(rand() * 4_000);
      const inFlight = runner.activeJobIds().length;
      await runner.crash();
      crashes++;
      say(`engine ${engineNo} killed with ${inFlight} jobs in flight`);
      await clock.sleep(1_000 + rand() * 5_000);
      runner = await newRunner(++engineNo);
      say(`engine ${engineNo} started`);
    }
    await clock.sleep(5_000);
  }
  say(`${enqueued} backups queued; waiting for the engine to finish`);

  // Drain: no new work; every job must end (the engine resumes or compensates everything). The lab
  // clock runs ahead of a CPU-starved engine, so the engine also gets a few wall minutes.
  const drainUntil = clock.now() + 15 * 60_000;
  const drainWallUntil = Date.now() + 5 * 60_000;
  for (;;) {
    const open = await db
      .select({ n: sql<number>`count(*)::int` })
      .from(jobs)
      .where(notInArray(jobs.status, [...TERMINAL_STATUSES]));
    if ((open[0]?.n ?? 0) === 0 || (clock.now() > drainUntil && Date.now() > drainWallUntil)) break;
    runner.wake();
    await clock.sleep(5_000);
  }
  // What the engine left behind is counted before the orphan sweep undoes it (the sweep's finds are reported too).
  const metrics = await lab.metrics();
  say('all jobs ended; sweeping orphans and checking every restore point against the oracle');
  const sweep = await sweepOrphans(systemCtx);
  await runner.stop({ drainMs: 1_000 });
  await lab.stop();

  // Check every restore point against the oracle.
  const rps = await db.select().from(restorePoints);
  const repo = await storage.repository(unit!.id);
  let consistent = 0;
  let inconsistent = 0;
  const transports: ChaosReport['transports'] = {};
  for (const rp of rps) {
    let ok = true;
    for (const d of rp.disks) {
      const h = await repo.digestDisk({ pointId: rp.id, diskIndex: d.index });
      const o = rp.snapshotId ? await lab.handle.oracle(rp.snapshotId, d.index) : null;
      if (!o || o.digest !== h.digest) ok = false;
    }
    const t = (transports[rp.transport ?? 'unknown'] ??= { points: 0, inconsistent: 0 });
    t.points++;
    if (ok) consistent++;
    else {
      inconsistent++;
      t.inconsistent++;
    }
  }
  say(`${consistent + inconsistent} restore points checked`);
  const statusRows = await db.select({ status: jobs.status, n: sql<number>`count(*)::int` }).from(jobs).groupBy(jobs.status);
  const jobCounts = Object.fromEntries(statusRows.map((r) => [r.status, r.n]));
  const nonTerminal = statusRows.filter((r) => !TERMINAL_STATUSES.includes(r.status)).reduce((a, r) => a + r.n, 0);
  const barriers = (await db.select({ result: jobs.result }).from(jobs).where(eq(jobs.status, 'succeeded')))
    .map((r) => r.result as { writeBackBarrier?: boolean; writeThroughWindowMs?: number; destageMs?: number } | null)
    .filter((r) => r?.writeBackBarrier);
  const windows = barriers.map((r) => r!.writeThroughWindowMs ?? 0);
  await storage.closeAll();
  await database.close();
  if (!opts.keepDir) fs.rmSync(dir, { recursive: true, force: true });
  return {
    restorePoints: rps.length,
    consistent,
    inconsistent,
    leftoverSnapshots: metrics.leftoverSnapshots,
    vmsWithWrongCachePolicy: metrics.vmsWithWrongCachePolicy,
    drsPinsLeft: metrics.drsPinsLeft,
    nonTerminalJobs: nonTerminal,
    failovers: metrics.failovers,
    riskyMoves: metrics.riskyMoves,
    seed: opts.seed,
    minutes: opts.minutes,
    coordination: opts.coordination,
    engineCrashes: crashes,
    jobs: jobCounts,
    transports,
    medianWriteThroughWindowMs: median(windows),
    medianDestageMs: median(barriers.map((r) => r!.destageMs ?? 0)),
    orphanSweep: { snapshotsRemoved: sweep.snapshotsRemoved.length, overridesRestored: sweep.overridesRestored.length, pinsRemoved: sweep.pinsRemoved.length },
    wallSeconds: Math.round((Date.now() - wallStart) / 100) / 10,
  };
}
