import { TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import { isConnectorError } from '@/server/connectors/types';
import { isDomainError, type DomainErrorCode } from '@/server/errors';

const DOMAIN_TO_TRPC: Record<DomainErrorCode, TRPC_ERROR_CODE_KEY> = {
  UNAUTHORIZED: 'UNAUTHORIZED',
  NOT_FOUND: 'NOT_FOUND',
  FORBIDDEN: 'FORBIDDEN',
  CONFLICT: 'CONFLICT',
  VALIDATION: 'BAD_REQUEST',
  PRECONDITION_FAILED: 'PRECONDITION_FAILED',
  LIMIT_EXCEEDED: 'TOO_MANY_REQUESTS',
  INTERNAL: 'INTERNAL_SERVER_ERROR',
};

/** The one adapter from domain and connector errors to tRPC errors. */
export function toTRPCError(e: unknown): TRPCError {
  if (e instanceof TRPCError) return e;
  if (isDomainError(e)) return new TRPCError({ code: DOMAIN_TO_TRPC[e.code], message: e.message, cause: e });
  if (isConnectorError(e)) {
    const code: TRPC_ERROR_CODE_KEY =
      e.code === 'NOT_FOUND' ? 'NOT_FOUND' : e.code === 'INVALID_ARGUMENT' || e.code === 'CONFIRMATION_REQUIRED' ? 'BAD_REQUEST' : e.code === 'CONFLICT' ? 'CONFLICT' : 'INTERNAL_SERVER_ERROR';
    return new TRPCError({ code, message: e.message, cause: e });
  }
  return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: e instanceof Error ? e.message : String(e), cause: e });
}
