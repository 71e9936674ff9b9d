'use client';
import type { UseQueryResult } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { EmptyState, ErrorPanel, Skeleton } from './primitives';

/**
 * Every list page shows its query the same way: an error that says what to try, a skeleton while
 * loading, an empty state that says what to do next, then the data.
 */
export function QueryState<T>({
  query,
  what,
  empty,
  isEmpty,
  rows = 6,
  children,
}: {
  query: UseQueryResult<T, unknown>;
  what: string;
  empty?: { title: string; hint?: ReactNode; action?: ReactNode };
  isEmpty?: (data: T) => boolean;
  rows?: number;
  children: (data: T) => ReactNode;
}) {
  if (query.error) return <ErrorPanel error={query.error} what={what} onRetry={() => void query.refetch()} />;
  if (query.data === undefined) return <Skeleton rows={rows} />;
  const blank = isEmpty ? isEmpty(query.data) : Array.isArray(query.data) && query.data.length === 0;
  if (empty && blank) return <EmptyState {...empty} />;
  return <>{children(query.data)}</>;
}

/** The white panel that holds a page's table. */
export function TablePanel({ children }: { children: ReactNode }) {
  return <div className="rounded-lg border border-slate-200 bg-white p-2 shadow-sm">{children}</div>;
}
