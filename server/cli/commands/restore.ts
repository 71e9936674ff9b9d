import path from 'node:path';
import type { Command } from 'commander';
import { waitForJobEnd, withConnection } from '../connection';
import { EXIT_FAILURE, printJson, UsageError } from '../output';

export function register(program: Command): void {
  program
    .command('restore-points')
    .description('Restore points')
    .command('list')
    .description('Restore points of a VM (or all), newest first')
    .option('--vm <name>', 'VM name, id or UUID')
    .option('--json', 'print one JSON object')
    .action(async (opts: { vm?: string; json?: boolean }, cmd: Command) => {
      await withConnection(
        cmd.optsWithGlobals(),
        async (c) => {
          const rows = await c.api.restores.listPoints.query(opts.vm ? { vm: opts.vm } : {});
          if (opts.json) {
            printJson({ restorePoints: rows });
            return;
          }
          for (const r of rows) process.stdout.write(`${r.createdAt.toISOString()}  ${r.vmName.padEnd(14)} ${r.consistency.padEnd(12)} ${r.full ? 'full' : 'incr'}  ${r.id}\n`);
          if (rows.length === 0) process.stdout.write('no restore points\n');
        },
        { engine: false },
      );
    });

  const restore = program.command('restore').description('Restore and verify');
  restore
    .command('disk')
    .description('Restore one disk of a restore point to a file (sparse) and verify it')
    .requiredOption('--point <id>', 'restore point id')
    .requiredOption('--disk <n>', 'disk index (0, 1, …)')
    .requiredOption('--out <file>', 'output file (must not exist)')
    .option('--json', 'print one JSON object')
    .action(async (opts: { point: string; disk: string; out: string; json?: boolean }, cmd: Command) => {
      const disk = Number(opts.disk);
      if (!Number.isInteger(disk) || disk < 0) throw new UsageError('--disk takes a disk index: 0, 1, …');
      await withConnection(cmd.optsWithGlobals(), async (c) => {
        const started = await c.api.restores.restoreDisk.mutate({ pointId: opts.point, diskIndex: disk, outPath: path.resolve(opts.out) });
        const d = await waitForJobEnd(c, started.job.id);
        const r = (d.job.result ?? {}) as Record<string, unknown>;
        const out = { job: { id: d.job.id, status: d.job.status }, outPath: started.outPath, ...r, ...(d.job.error ? { error: d.job.error } : {}) };
        if (opts.json) printJson(out);
        else if (d.job.status === 'succeeded') process.stdout.write(`restored to ${started.outPath} (${String(r.bytesWritten)} bytes written); verified: ${String(r.verified)}\n`);
        else process.stdout.write(`restore ${d.job.status}: ${d.job.error?.message ?? ''}\n`);
        if (d.job.status !== 'succeeded' || r.verified === false) process.exitCode = EXIT_FAILURE;
      });
    });
  restore
    .command('verify')
    .description('Restore every disk of a point (as a hash stream) and compare with what the guest saw at the snapshot')
    .requiredOption('--point <id>', 'restore point id')
    .option('--json', 'print one JSON object')
    .action(async (opts: { point: string; json?: boolean }, cmd: Command) => {
      await withConnection(cmd.optsWithGlobals(), async (c) => {
        const started = await c.api.restores.verify.mutate({ pointId: opts.point });
        const d = await waitForJobEnd(c, started.job.id);
        const r = (d.job.result ?? {}) as { consistent?: boolean; [k: string]: unknown };
        const out = { consistent: d.job.status === 'succeeded' ? r.consistent === true : false, ...r, job: { id: d.job.id, status: d.job.status }, ...(d.job.error ? { error: d.job.error } : {}) };
        if (opts.json) printJson(out);
        else process.stdout.write(out.consistent ? `restore point ${opts.point} is consistent\n` : `restore point ${opts.point} is NOT consistent${d.job.error ? `: ${d.job.error.message}` : ''}\n`);
        if (!out.consistent) process.exitCode = EXIT_FAILURE;
      });
    });
}
