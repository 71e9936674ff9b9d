import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { openDatabase, type DatabaseHandle } from '@/db/client';

export type TestDbKind = 'pglite' | 'postgres';
export const DB_KINDS: TestDbKind[] = ['pglite', 'postgres'];

/** A migrated database for one suite: in-memory PGlite, or a fresh database on the shared throwaway server. */
export async function createTestDatabase(kind: TestDbKind): Promise<DatabaseHandle> {
  if (kind === 'pglite') {
    const h = await openDatabase({ pgliteDir: 'memory://' });
    await h.migrate();
    return h;
  }
  const base = inject('pgUrl');
  const { default: pg } = await import('pg');
  const name = `t_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  const h = await openDatabase({ url: url.toString() });
  await h.migrate();
  return h;
}
