import fs from 'node:fs';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import superjson from 'superjson';
import { afterAll, describe, expect, it } from 'vitest';
import type { AppRouter } from '@/server/api/root';
import { scratchDir } from './runtime-fixture';
import { cli, freePort, startServerProcess, type ServerProcess } from './server-process';

/**
 * kill -9 of the server in the middle of a transfer, then a restart on the same data directory: the
 * job ends resumed (or failed and compensated), and the lab has no snapshot left.
 */
describe('crash recovery of the whole server process', () => {
  const scratch = scratchDir('quiesce-crash-');
  let server: ServerProcess | null = null;
  afterAll(async () => {
    await server?.stop();
    scratch.remove();
  });

  it('a job interrupted by kill -9 during its transfer ends cleanly after a restart', async () => {
    const port = await freePort();
    server = await startServerProcess(scratch.dir, port, { QUIESCE_SCHEDULER: 'off' });
    const env = server.env;
    const token = fs.readFileSync(`${scratch.dir}/cli-token`, 'utf8').trim();
    const api = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: `${server.url}/api/trpc`, transformer: superjson, headers: { authorization: `Bearer ${token}` } })] });

    // The biggest VM, read over NBD (throttled by the host's network): a transfer long enough to kill.
    const vms = (cli(['lab', 'inspect', '--json'], env).json.vms as Array<{ name: string; isProxy?: boolean; disks: Array<{ sizeBytes: number }> }>).filter((v) => !v.isProxy);
    const big = vms.sort((a, b) => b.disks.reduce((x, d) => x + d.sizeBytes, 0) - a.disks.reduce((x, d) => x + d.sizeBytes, 0))[0]!;
    const units = await api.storageUnits.list.query();
    const policy = await api.policies.create.mutate({
      name: 'crash-test',
      schedule: '0 0 1 1 *',
      selection: { names: [big.name] },
      storageUnitId: units[0]!.id,
      settings: { transportOrder: ['nbd'] },
    });
    // At the lab's full bandwidth the transfer takes about two seconds, and its first progress shows
    // about half way: under load the polls below could miss it. The lab's own fault cuts its hosts'
    // NBD bandwidth to a quarter, so that the transfer is seen running with bytes done.
    const hosts = cli(['lab', 'inspect', '--json'], env).json.hosts as Array<{ id: string }>;
    for (const h of hosts) await api.lab.injectFault.mutate({ kind: 'slow-network', hostId: h.id, factor: 0.25, forMs: 3_600_000 });
    const started = cli(['backup', 'run', '--vm', big.name, '--policy', policy.id, '--json'], env);
    expect(started.code, started.stderr).toBe(0);
    const jobId = started.json.job.id as string;

    let killedInTransfer = false;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const d = await api.jobs.get.query({ id: jobId });
      const transferring = d.steps.some((s) => s.name === 'transfer' && s.status === 'running') && (d.job.progress?.bytesDone ?? 0) > 0;
      if (transferring) {
        await server.kill9();
        killedInTransfer = true;
        break;
      }
      if (['succeeded', 'failed', 'cancelled'].includes(d.job.status)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(killedInTransfer, 'the transfer was still running when the server was killed').toBe(true);
    server = null;

    // The killed process left a snapshot behind: the lab persisted it.
    server = await startServerProcess(scratch.dir, port, { QUIESCE_SCHEDULER: 'off' });
    const env2 = server.env;
    let final = '';
    const until = Date.now() + 120_000;
    while (Date.now() < until) {
      const jobs = cli(['jobs', 'list', '--json'], env2).json.jobs as Array<{ id: string; status: string; recoveries: number }>;
      const j = jobs.find((x) => x.id === jobId)!;
      if (['succeeded', 'failed', 'cancelled'].includes(j.status)) {
        final = j.status;
        expect(j.recoveries).toBeGreaterThanOrEqual(1);
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(['succeeded', 'failed']).toContain(final);
    // Every job the kill interrupted (the first start's policy run too) ends; then no snapshot is left.
    const allEnded = Date.now() + 120_000;
    while (Date.now() < allEnded) {
      const jobs = cli(['jobs', 'list', '--json'], env2).json.jobs as Array<{ status: string }>;
      if (jobs.every((j) => ['succeeded', 'failed', 'cancelled'].includes(j.status))) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const lab = cli(['lab', 'inspect', '--json'], env2).json.vms as Array<{ name: string; snapshots: unknown[] }>;
    expect(lab.flatMap((v) => v.snapshots)).toEqual([]);
    if (final === 'succeeded') {
      const jobs = cli(['jobs', 'list', '--json'], env2).json.jobs as Array<{ id: string; result: { restorePointId: string } }>;
      const rp = jobs.find((x) => x.id === jobId)!.result.restorePointId;
      const v = cli(['restore', 'verify', '--point', rp, '--json'], env2);
      expect(v.json.consistent).toBe(true);
    }
  });
});
