import type { Command } from 'commander';

/**
 * Every command module registers its commands here. Keep one line per module; each module
 * owns its subcommands, flags and --json shapes (public interfaces admins script against).
 */
const modules: Array<() => Promise<{ register: (program: Command) => void }>> = [
  () => import('./backup'),
  () => import('./jobs'),
  () => import('./restore'),
  () => import('./lab'),
  () => import('./proxies'),
  () => import('./repo'),
];

export async function registerCommands(program: Command): Promise<void> {
  for (const load of modules) (await load()).register(program);
}
