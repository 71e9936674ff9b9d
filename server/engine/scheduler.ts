import { and, eq, lte } from 'drizzle-orm';
import type { Db } from '@/db/client';
import { policies } from '@/db/schema';
import type { Clock } from '@/server/lib/clock';
import type { Logger } from '@/server/lib/logger';
import { nextRun } from '@/server/policies/schedule';
import { enqueueJob } from './client';

export interface Scheduler {
  start(): void;
  stop(): Promise<void>;
  /** One pass (tests call it directly). Returns the policy.run jobs it queued. */
  tick(): Promise<string[]>;
}

/**
 * Fires due policies: each fire time becomes one `policy.run` job with a deterministic key, so two
 * engine processes (or a restart in the middle of a tick) never queue the same run twice.
 */
export function createScheduler(opts: { db: Db; clock: Clock; logger: Logger; intervalMs?: number; onQueued?: () => void }): Scheduler {
  const log = opts.logger.child({ component: 'scheduler' });
  const interval = opts.intervalMs ?? 10_000;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<unknown> | null = null;

  async function tick(): Promise<string[]> {
    const now = opts.clock.now();
    const due = await opts.db
      .select()
      .from(policies)
      .where(and(eq(policies.enabled, true), lte(policies.nextRunAt, new Date(now))));
    const queued: string[] = [];
    for (const p of due) {
      const fireAt = p.nextRunAt!.getTime();
      const following = nextRun(p.schedule, p.timezone, Math.max(now, fireAt));
      const id = await opts.db.transaction(async (tx) => {
        const { job, created } = await enqueueJob(tx, opts.clock, {
          type: 'policy.run',
          key: `policy:${p.id}:${new Date(fireAt).toISOString()}`,
          input: { policyId: p.id, scheduledFor: fireAt, trigger: 'schedule' },
          policyId: p.id,
          priority: 50,
          createdBy: 'scheduler',
        });
        await tx
          .update(policies)
          .set({ nextRunAt: following ? new Date(following) : null, lastRunAt: new Date(now) })
          .where(eq(policies.id, p.id));
        return created ? job.id : null;
      });
      if (id) {
        queued.push(id);
        log.info({ policyId: p.id, policy: p.name, jobId: id }, 'policy run queued');
      }
    }
    if (queued.length > 0) opts.onQueued?.();
    return queued;
  }

  return {
    tick,
    start() {
      if (timer) return;
      const run = () => {
        if (running) return;
        running = tick()
          .catch((e) => log.error({ err: e }, 'scheduler tick failed'))
          .finally(() => {
            running = null;
          });
      };
      run();
      timer = setInterval(run, Math.max(50, interval / opts.clock.speed));
      timer.unref?.();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await running;
    },
  };
}
