import type { Command } from 'commander';
import { withConnection } from '../connection';
import { printJson } from '../output';

export function register(program: Command): void {
  const lab = program.command('lab').description('The lab environment');
  lab
    .command('inspect')
    .description('VMs with their host, disks and snapshots')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withConnection(
        cmd.optsWithGlobals(),
        async (c) => {
          const view = (await c.api.lab.inspect.query()) as { vms: Array<{ name: string; host: string; disks: unknown[]; snapshots: unknown[] }> };
          if (opts.json) {
            printJson(view);
            return;
          }
          for (const vm of view.vms) process.stdout.write(`${vm.name.padEnd(16)} ${String(vm.host).padEnd(10)} disks=${vm.disks.length} snapshots=${vm.snapshots.length}\n`);
        },
        { engine: false },
      );
    });
}
