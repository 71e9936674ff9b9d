import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/index';
import { EXIT_BAD_INPUT, EXIT_OK, reportError } from './output';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('quiesce')
    .description('Quiesce: consistent image-level VM backups — CLI')
    .option('--data-dir <dir>', 'data directory (default: $QUIESCE_DATA_DIR or ./.quiesce)')
    .showHelpAfterError()
    .exitOverride();
  await registerCommands(program, argv);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT_OK;
      return EXIT_BAD_INPUT;
    }
    const json = argv.includes('--json');
    return reportError(e, json);
  }
}
