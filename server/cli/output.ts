import { isDomainError } from '@/server/errors';
import { isConnectorError } from '@/server/connectors/types';

/** Exit codes every command keeps: 0 success, 1 failure, 2 bad input. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_BAD_INPUT = 2;

/** Thrown by commands for bad arguments: printed without a stack, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

const BAD_INPUT_CODES = new Set(['NOT_FOUND', 'VALIDATION', 'BAD_REQUEST', 'CONFLICT', 'PRECONDITION_FAILED', 'INVALID_ARGUMENT', 'CONFIRMATION_REQUIRED', 'FORBIDDEN', 'UNAUTHORIZED']);

/** The error's code, whether it came from the domain, a connector, or over tRPC. */
export function errorCode(e: unknown): string {
  if (e instanceof UsageError) return 'BAD_INPUT';
  if (isDomainError(e) || isConnectorError(e)) return e.code;
  const data = (e as { data?: { domainCode?: string; code?: string } } | null)?.data;
  return data?.domainCode ?? data?.code ?? 'INTERNAL';
}

export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError) return EXIT_BAD_INPUT;
  return BAD_INPUT_CODES.has(errorCode(e)) ? EXIT_BAD_INPUT : EXIT_FAILURE;
}

/** Print an error the way every command does: JSON on stdout with --json, a sentence on stderr otherwise. */
export function reportError(e: unknown, json: boolean): number {
  const message = e instanceof Error ? e.message : String(e);
  const code = errorCode(e);
  if (json) printJson({ error: { code, message } });
  process.stderr.write(`quiesce: ${message}\n`);
  return exitCodeFor(e);
}
