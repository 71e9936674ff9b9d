import type { Command } from 'commander';
import { JOB_STATUSES } from '@/server/engine/statuses';
import { withConnection } from '../connection';
import { printJson, UsageError } from '../output';

export function register(program: Command): void {
  const jobs = program.command('jobs').description('Backup and restore jobs');
  jobs
    .command('list')
    .description('Recent jobs, newest first')
    .option('--status <status...>', `filter by status (${JOB_STATUSES.join(', ')})`)
    .option('--vm <name>', 'filter by VM name')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print one JSON object')
    .action(async (opts: { status?: string[]; vm?: string; limit: string; json?: boolean }, cmd: Command) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError('--limit takes a whole number from 1 to 500');
      const bad = opts.status?.filter((s) => !(JOB_STATUSES as readonly string[]).includes(s));
      if (bad?.length) throw new UsageError(`unknown status ${bad.join(', ')} (use ${JOB_STATUSES.join(', ')})`);
      await withConnection(
        cmd.optsWithGlobals(),
        async (c) => {
          const rows = await c.api.jobs.list.query({ limit, ...(opts.vm ? { vm: opts.vm } : {}), ...(opts.status ? { status: opts.status as (typeof JOB_STATUSES)[number][] } : {}) });
          if (opts.json) {
            printJson({ jobs: rows });
            return;
          }
          for (const j of rows) process.stdout.write(`${j.createdAt.toISOString()}  ${j.status.padEnd(12)} ${j.type.padEnd(14)} ${(j.vmName ?? '').padEnd(14)} ${j.id}\n`);
          if (rows.length === 0) process.stdout.write('no jobs yet\n');
        },
        { engine: false },
      );
    });
  jobs
    .command('cancel')
    .description('Cancel a job (a running one compensates first)')
    .requiredOption('--id <id>', 'job id')
    .option('--json', 'print one JSON object')
    .action(async (opts: { id: string; json?: boolean }, cmd: Command) => {
      await withConnection(
        cmd.optsWithGlobals(),
        async (c) => {
          const r = await c.api.jobs.cancel.mutate({ id: opts.id });
          if (opts.json) printJson(r);
          else process.stdout.write(`job ${r.id}: ${r.status === 'cancelled' ? 'cancelled' : 'cancel requested'}\n`);
        },
        { engine: false },
      );
    });
}
