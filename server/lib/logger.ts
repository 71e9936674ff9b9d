import pino, { type Logger } from 'pino';

export type { Logger };

/** Structured logs (JSON lines). Child loggers carry jobId / requestId bindings. */
export function createLogger(opts: { level?: string; name?: string; destination?: pino.DestinationStream } = {}): Logger {
  const level = opts.level ?? process.env.LOG_LEVEL ?? 'info';
  return pino({ level, name: opts.name ?? 'quiesce', base: { pid: process.pid } }, opts.destination);
}

/** A logger that drops everything (unit tests, CLI --json paths). */
export const silentLogger: Logger = pino({ level: 'silent' });
