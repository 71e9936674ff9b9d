import type { Command } from 'commander';
import { withConnection, cliConfig } from '../connection';
import { printJson, UsageError } from '../output';

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

  lab
    .command('chaos')
    .description('A fresh lab on a fast-forward clock, backups through the engine, faults and engine kills; then every restore point is checked against the oracle')
    .requiredOption('--seed <n>', 'seed of the scenario (same seed, same workloads, moves and faults)')
    .option('--minutes <m>', 'lab minutes to run', '30')
    .option('--no-coordination', 'run a careless engine: no cache barrier, no blacklist check, no DRS pin, no stun guard')
    .option('--crash-engine <k>', 'kill the engine K times at seeded random instants', '0')
    .option('--speed <x>', 'lab milliseconds per wall millisecond', '10')
    .option('--keep <dir>', 'keep the run (lab, database, repository) in this directory')
    .option('--json', 'print one JSON object')
    .action(async (opts: { seed: string; minutes: string; coordination: boolean; crashEngine: string; speed: string; keep?: string; json?: boolean }, cmd: Command) => {
      const seed = Number(opts.seed);
      const minutes = Number(opts.minutes);
      const crashEngine = Number(opts.crashEngine);
      const speed = Number(opts.speed);
      if (!Number.isInteger(seed)) throw new UsageError('--seed takes a whole number');
      if (!(minutes > 0 && minutes <= 24 * 60)) throw new UsageError('--minutes takes a number of lab minutes (up to 1440)');
      if (!Number.isInteger(crashEngine) || crashEngine < 0 || crashEngine > 100) throw new UsageError('--crash-engine takes a whole number from 0 to 100');
      if (!(speed >= 1 && speed <= 200)) throw new UsageError('--speed takes 1 to 200');
      const { runChaos } = await import('@/server/chaos/run-chaos');
      const { createChaosLab } = await import('@/server/chaos/chaos-lab');
      const { initRepository, openRepository } = await import('@/server/repository');
      const { createLogger } = await import('@/server/lib/logger');
      const config = cliConfig(cmd.optsWithGlobals());
      const report = await runChaos(
        {
          seed,
          minutes,
          coordination: opts.coordination,
          crashEngine,
          speed,
          keepDir: opts.keep,
          logger: createLogger({ level: process.env.LOG_LEVEL ?? 'silent', destination: process.stderr as never }),
          config,
          onProgress: opts.json ? undefined : (line) => process.stderr.write(`${line}\n`),
        },
        createChaosLab,
        { init: async (dir) => void (await initRepository({ path: dir })), open: (dir) => openRepository({ path: dir }) },
      );
      if (opts.json) printJson(report);
      else process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    });
}
