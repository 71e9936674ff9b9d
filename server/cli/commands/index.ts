import type { Command } from 'commander';

type CommandModule = () => Promise<{ register: (program: Command) => void }>;

/**
 * Every command module registers its commands here, with the top-level commands it owns. Keep one
 * line per module; each module owns its subcommands, flags and --json shapes (public interfaces
 * admins script against).
 */
const modules: Array<{ owns: string[]; load: CommandModule }> = [
  { owns: ['backup'], load: () => import('./backup') },
  { owns: ['jobs'], load: () => import('./jobs') },
  { owns: ['restore', 'restore-points'], load: () => import('./restore') },
  { owns: ['lab'], load: () => import('./lab') },
  { owns: ['proxies', 'blacklist'], load: () => import('./proxies') },
  { owns: ['repo', 'image'], load: () => import('./repo') },
];

/**
 * Registers the module that owns the command being run (the first argument that is not an
 * option), or every module for help and unknown commands. A repository command then starts
 * without loading the database, the API client or the lab.
 */
export async function registerCommands(program: Command, argv: string[] = []): Promise<void> {
  const first = argv.slice(2).find((a) => !a.startsWith('-'));
  const owner = modules.find((m) => first !== undefined && m.owns.includes(first));
  for (const m of owner ? [owner] : modules) (await m.load()).register(program);
}
