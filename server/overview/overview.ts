import { and, desc, eq, gte, sql } from 'drizzle-orm';
import { jobs, storageUnits } from '@/db/schema';
import { requireRole, type ServiceContext } from '@/server/context';
import { loadProtectionFacts, protectionOf } from '@/server/inventory/protection';
import { cachedStats } from '@/server/storage/storage-units';

const DAY = 86_400_000;

export async function getOverview({ ctx }: { ctx: ServiceContext }) {
  requireRole(ctx, 'viewer');
  const now = ctx.clock.now();
  const inv = await ctx.deps.connectors.hypervisor.inventory();
  const facts = await loadProtectionFacts(ctx.db);
  const workloads = inv.vms.filter((v) => !v.isProxy);
  const protections = workloads.map((vm) => ({ vm, p: protectionOf(vm, facts, now) }));
  const count = (s: string) => protections.filter((x) => x.p.state === s).length;

  const since = new Date(now - DAY);
  const byStatus = await ctx.db
    .select({ status: jobs.status, n: sql<number>`count(*)::int` })
    .from(jobs)
    .where(and(gte(jobs.createdAt, since), eq(jobs.type, 'backup.vm')))
    .groupBy(jobs.status);

  const chartSince = new Date(now - 14 * DAY);
  const chartRows = await ctx.db
    .select({ day: sql<string>`to_char(date_trunc('day', ${jobs.createdAt} at time zone 'UTC'), 'YYYY-MM-DD')`, status: jobs.status, n: sql<number>`count(*)::int` })
    .from(jobs)
    .where(and(gte(jobs.createdAt, chartSince), eq(jobs.type, 'backup.vm')))
    .groupBy(sql`1`, jobs.status);
  const days: Array<{ day: string; succeeded: number; failed: number; cancelled: number; other: number }> = [];
  for (let i = 13; i >= 0; i--) {
    const day = new Date(now - i * DAY).toISOString().slice(0, 10);
    const rows = chartRows.filter((r) => r.day === day);
    const get = (s: string) => rows.filter((r) => r.status === s).reduce((a, r) => a + r.n, 0);
    days.push({ day, succeeded: get('succeeded'), failed: get('failed'), cancelled: get('cancelled'), other: rows.reduce((a, r) => a + r.n, 0) - get('succeeded') - get('failed') - get('cancelled') });
  }

  const units = await ctx.db.select().from(storageUnits);
  let logical = 0;
  let stored = 0;
  for (const u of units) {
    const s = await cachedStats(ctx, u.id);
    if (s) {
      logical += s.logicalBytes;
      stored += s.storedBytes;
    }
  }

  const failedRecent = await ctx.db
    .select({ id: jobs.id, vmName: jobs.vmName, error: jobs.error, finishedAt: jobs.finishedAt })
    .from(jobs)
    .where(and(eq(jobs.status, 'failed'), gte(jobs.createdAt, since)))
    .orderBy(desc(jobs.createdAt))
    .limit(10);
  const snapshots = await ctx.deps.connectors.hypervisor.listSnapshots();
  const running = new Set((await ctx.db.select({ id: jobs.id }).from(jobs).where(sql`${jobs.status} in ('queued','running','retrying','compensating')`)).map((j) => j.id));
  const orphans = snapshots.filter((s) => s.name.startsWith('quiesce-') && !running.has(s.name.slice('quiesce-'.length)));

  const attention = [
    ...failedRecent.map((j) => ({ kind: 'failed-job' as const, id: j.id, title: `Backup of ${j.vmName ?? 'a VM'} failed`, detail: j.error?.message ?? '', action: { label: 'Open job', href: `/jobs/${j.id}` } })),
    ...protections
      .filter((x) => x.p.state === 'at-risk')
      .map((x) => ({ kind: 'rpo' as const, id: x.vm.id, title: `${x.vm.name} is out of its RPO`, detail: x.p.summary, action: { label: 'Back up now', href: `/inventory/vms/${encodeURIComponent(x.vm.id)}` } })),
    ...orphans.map((s) => ({ kind: 'orphan-snapshot' as const, id: s.id, title: `Snapshot ${s.name} has no running job`, detail: `on VM ${s.vmId}`, action: { label: 'Open VM', href: `/inventory/vms/${encodeURIComponent(s.vmId)}` } })),
  ];

  return {
    vms: { total: workloads.length, protected: count('protected'), atRisk: count('at-risk'), unprotected: count('unprotected') },
    jobs24h: Object.fromEntries(byStatus.map((r) => [r.status, r.n])) as Record<string, number>,
    storage: { units: units.length, logicalBytes: logical, storedBytes: stored, dedupRatio: stored > 0 ? logical / stored : null },
    chart: days,
    attention,
  };
}
