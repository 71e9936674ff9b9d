import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDir } from './runtime-fixture';
import { cli, freePort, startServerProcess, type ServerProcess } from './server-process';

/**
 * The spine end to end, through the real server process and the real CLI: every lab VM is backed
 * up while its guest keeps writing, and each restore point is verified against the lab's oracle;
 * a second backup reads only the changed extents.
 */
describe('spine: backup and verify every lab VM through the CLI', () => {
  const scratch = scratchDir('quiesce-spine-');
  let server: ServerProcess;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    // No scheduled runs: this test drives every backup itself.
    server = await startServerProcess(scratch.dir, await freePort(), { QUIESCE_SCHEDULER: 'off' });
    env = { ...server.env };
  });
  afterAll(async () => {
    await server?.stop();
    scratch.remove();
  });

  it('the first start backs up the lab with no click, and leaves no snapshot behind', async () => {
    const deadline = Date.now() + 120_000;
    let jobs: Array<{ type: string; status: string }> = [];
    while (Date.now() < deadline) {
      jobs = cli(['jobs', 'list', '--json'], env).json.jobs;
      const backups = jobs.filter((j) => j.type === 'backup.vm');
      if (backups.length > 0 && backups.every((j) => ['succeeded', 'failed', 'cancelled'].includes(j.status))) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(jobs.filter((j) => j.type === 'backup.vm' && j.status === 'succeeded').length).toBeGreaterThanOrEqual(12);
    const r = cli(['lab', 'inspect', '--json'], env);
    expect(r.code).toBe(0);
    const vms = r.json.vms as Array<{ name: string; host: string; disks: Array<{ index: number; sizeBytes: number }>; snapshots: unknown[] }>;
    expect(vms.length).toBeGreaterThanOrEqual(12);
    for (const vm of vms) {
      expect(vm.host).toBeTruthy();
      expect(vm.disks.length).toBeGreaterThanOrEqual(1);
      expect(vm.snapshots).toEqual([]);
    }
  });

  it('every VM: backup run --wait, then restore verify says consistent', () => {
    const vms = (cli(['lab', 'inspect', '--json'], env).json.vms as Array<{ name: string; isProxy?: boolean }>).filter((v) => !v.isProxy);
    for (const vm of vms) {
      const b = cli(['backup', 'run', '--vm', vm.name, '--wait', '--json'], env);
      expect(b.code, `${vm.name}: ${b.stderr}${b.stdout}`).toBe(0);
      expect(b.json.job.status).toBe('succeeded');
      expect(b.json.restorePoint.id).toBeTruthy();
      expect(b.json.diskBytes).toBeGreaterThan(0);
      const v = cli(['restore', 'verify', '--point', b.json.restorePoint.id, '--json'], env);
      expect(v.json?.consistent, `${vm.name}: ${v.stdout}${v.stderr}`).toBe(true);
      expect(v.code).toBe(0);
    }
  });

  it('a second backup reads only changed extents (under 25 % of the disks)', () => {
    const name = 'web-01';
    // Two backups in a row while the guest keeps writing: the second reads what changed in between.
    const first = cli(['backup', 'run', '--vm', name, '--wait', '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    const second = cli(['backup', 'run', '--vm', name, '--wait', '--json'], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.json.result.full).toBe(false);
    expect(second.json.bytesRead).toBeGreaterThan(0);
    expect(second.json.bytesRead).toBeLessThan(0.25 * second.json.diskBytes);
    const v = cli(['restore', 'verify', '--point', second.json.restorePoint.id, '--json'], env);
    expect(v.json.consistent).toBe(true);
  });

  it('restores a disk to a sparse file that matches the oracle', () => {
    const points = cli(['restore-points', 'list', '--vm', 'web-01', '--json'], env).json.restorePoints as Array<{ id: string }>;
    expect(points.length).toBeGreaterThanOrEqual(2);
    const out = path.join(scratch.dir, 'web-01-disk0.raw');
    const r = cli(['restore', 'disk', '--point', points[0]!.id, '--disk', '0', '--out', out, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.verified).toBe(true);
    const st = fs.statSync(out);
    expect(st.size).toBe(r.json.sizeBytes);
    expect(st.blocks * 512).toBeLessThan(st.size);
  });

  it('bad input: clear errors, exit code 2, nothing changed', () => {
    const before = cli(['jobs', 'list', '--json'], env).json.jobs.length;
    const unknownVm = cli(['backup', 'run', '--vm', 'no-such-vm', '--json'], env);
    expect(unknownVm.code).toBe(2);
    expect(unknownVm.stderr).toMatch(/no-such-vm/);
    const unknownPoint = cli(['restore', 'verify', '--point', 'rp-nope', '--json'], env);
    expect(unknownPoint.code).toBe(2);
    const points = cli(['restore-points', 'list', '--vm', 'web-01', '--json'], env).json.restorePoints as Array<{ id: string }>;
    const badDisk = cli(['restore', 'disk', '--point', points[0]!.id, '--disk', '7', '--out', path.join(scratch.dir, 'x.raw'), '--json'], env);
    expect(badDisk.code).toBe(2);
    expect(badDisk.stderr).toMatch(/[Dd]isk "?7/);
    expect(cli(['jobs', 'list', '--json'], env).json.jobs.length).toBe(before);
    expect(cli(['restore-points', 'list', '--vm', 'nope', '--json'], env).code).toBe(2);
  });
});
