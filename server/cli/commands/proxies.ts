import type { Command } from 'commander';
import { withConnection } from '../connection';
import { printJson } from '../output';

export function register(program: Command): void {
  program
    .command('proxies')
    .description('Backup proxies')
    .command('list')
    .description('Proxies with transport modes, load and blacklist state')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withConnection(
        cmd.optsWithGlobals(),
        async (c) => {
          const proxies = await c.api.proxies.list.query();
          if (opts.json) {
            printJson({ proxies });
            return;
          }
          for (const p of proxies) {
            process.stdout.write(`${p.name.padEnd(16)} ${p.kind.padEnd(9)} ${p.transports.join(',').padEnd(20)} tasks ${p.activeTasks}/${p.maxTasks} ${p.blacklisted ? 'blacklisted' : '-'}\n`);
            for (const w of p.warnings) process.stdout.write(`  warning: ${w}\n`);
          }
        },
        { engine: false },
      );
    });

  const bl = program.command('blacklist').description("The cache layer's proxy blacklist (VADP policy)");
  bl.command('add')
    .description('Put a proxy VM on the cache blacklist')
    .requiredOption('--proxy <name>', 'proxy name')
    .option('--json', 'print one JSON object')
    .action(async (opts: { proxy: string; json?: boolean }, cmd: Command) => {
      await withConnection(
        cmd.optsWithGlobals(),
        async (c) => {
          const r = await c.api.proxies.blacklistAdd.mutate({ proxy: opts.proxy });
          if (opts.json) printJson(r);
          else process.stdout.write(`${r.proxy} (${r.uuid}) is on the blacklist\n`);
        },
        { engine: false },
      );
    });
  bl.command('remove')
    .description('Take a proxy off the cache blacklist (deliberate: repeat its name with --confirm)')
    .requiredOption('--proxy <name>', 'proxy name')
    .option('--confirm <name>', "the proxy's name again")
    .option('--json', 'print one JSON object')
    .action(async (opts: { proxy: string; confirm?: string; json?: boolean }, cmd: Command) => {
      await withConnection(
        cmd.optsWithGlobals(),
        async (c) => {
          const r = await c.api.proxies.blacklistRemove.mutate({ proxy: opts.proxy, confirm: opts.confirm ?? '' });
          if (opts.json) printJson(r);
          else process.stdout.write(`${r.proxy} (${r.uuid}) is off the blacklist\n`);
        },
        { engine: false },
      );
    });
}
