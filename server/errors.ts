/**
 * The one error type of the domain. Domain and engine code throw these; the web adapters
 * (tRPC, server actions, CLI) map them once. Never import @trpc/server here.
 */
export type DomainErrorCode =
  | 'UNAUTHORIZED'
  | 'NOT_FOUND'
  | 'FORBIDDEN'
  | 'CONFLICT'
  | 'VALIDATION'
  | 'PRECONDITION_FAILED'
  | 'LIMIT_EXCEEDED'
  | 'INTERNAL';

export type FieldErrors = Record<string, string[]>;

export class DomainError extends Error {
  readonly code: DomainErrorCode;
  readonly details: Record<string, unknown> | undefined;
  readonly fieldErrors: FieldErrors | undefined;

  constructor(
    code: DomainErrorCode,
    message: string,
    opts: { details?: Record<string, unknown>; fieldErrors?: FieldErrors; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DomainError';
    this.code = code;
    this.details = opts.details;
    this.fieldErrors = opts.fieldErrors;
  }

  toJSON() {
    return { code: this.code, message: this.message, details: this.details, fieldErrors: this.fieldErrors };
  }
}

export class NotFoundError extends DomainError {
  constructor(what: string, id: string | number, details?: Record<string, unknown>) {
    super('NOT_FOUND', `${what} "${id}" not found`, { details: { what, id, ...details } });
  }
}

export class ForbiddenError extends DomainError {
  constructor(message = 'Your role does not allow this action') {
    super('FORBIDDEN', message);
  }
}

export class UnauthorizedError extends DomainError {
  constructor(message = 'Sign in first') {
    super('UNAUTHORIZED', message);
  }
}

export class ValidationError extends DomainError {
  constructor(message: string, fieldErrors?: FieldErrors) {
    super('VALIDATION', message, fieldErrors ? { fieldErrors } : {});
  }
}

export class ConflictError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('CONFLICT', message, details ? { details } : {});
  }
}

export class PreconditionError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('PRECONDITION_FAILED', message, details ? { details } : {});
  }
}

export function isDomainError(e: unknown): e is DomainError {
  return e instanceof DomainError || (typeof e === 'object' && e !== null && (e as { name?: string }).name === 'DomainError');
}

/** Expected client errors (4xx) are not logged as errors. */
export function isExpectedError(e: unknown): boolean {
  return isDomainError(e) && e.code !== 'INTERNAL';
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
