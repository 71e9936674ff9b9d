import type { Command } from 'commander';
import { waitForJobEnd, withConnection } from '../connection';
import { EXIT_FAILURE, printJson } from '../output';

export function register(program: Command): void {
  const backup = program.command('backup').description('Run backups');
  backup
    .command('run')
    .description('Back up one VM now')
    .requiredOption('--vm <name>', 'VM name, id or UUID')
    .option('--storage-unit <id>', 'storage unit id (default: the covering policy\'s, else the first)')
    .option('--policy <id>', 'run under this policy\'s settings')
    .option('--wait', 'wait until the job ends')
    .option('--json', 'print one JSON object')
    .action(async (opts: { vm: string; storageUnit?: string; policy?: string; wait?: boolean; json?: boolean }, cmd: Command) => {
      await withConnection(cmd.optsWithGlobals(), async (c) => {
        const started = await c.api.jobs.startBackup.mutate({ vm: opts.vm, ...(opts.storageUnit ? { storageUnitId: opts.storageUnit } : {}), ...(opts.policy ? { policyId: opts.policy } : {}) });
        if (!opts.wait) {
          if (opts.json) printJson({ job: started.job });
          else process.stdout.write(`queued backup job ${started.job.id} for ${started.vm.name}\n`);
          return;
        }
        let last = '';
        const d = await waitForJobEnd(c, started.job.id, (x) => {
          if (opts.json) return;
          const p = x.job.progress;
          const line = `${x.job.status}${x.job.waitingReason ? ` (waiting: ${x.job.waitingReason})` : ''}${p?.bytesTotal ? ` ${Math.round(((p.bytesDone ?? 0) / p.bytesTotal) * 100)}%` : ''}`;
          if (line !== last) process.stderr.write(`  ${line}\n`);
          last = line;
        });
        const r = (d.job.result ?? {}) as { restorePointId?: string; bytesRead?: number; diskBytes?: number; [k: string]: unknown };
        const out = {
          job: { id: d.job.id, status: d.job.status },
          restorePoint: r.restorePointId ? { id: r.restorePointId } : null,
          bytesRead: r.bytesRead ?? 0,
          diskBytes: r.diskBytes ?? 0,
          ...(d.job.error ? { error: d.job.error } : {}),
          result: r,
        };
        if (opts.json) printJson(out);
        else if (d.job.status === 'succeeded') process.stdout.write(`backup of ${started.vm.name} succeeded: restore point ${r.restorePointId}, read ${r.bytesRead} of ${r.diskBytes} bytes\n`);
        else process.stdout.write(`backup of ${started.vm.name} ${d.job.status}: ${d.job.error?.message ?? ''}\n`);
        if (d.job.status !== 'succeeded') process.exitCode = EXIT_FAILURE;
      });
    });
}
