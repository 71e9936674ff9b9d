import fs from 'node:fs';
import path from 'node:path';
import type { ExtractTablesWithRelations } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import type { Logger } from '@/server/lib/logger';
import * as schema from './schema';

export type Schema = typeof schema;
export type Db = PgDatabase<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** Anything queries can run on: the database or an open transaction. */
export type Queryable = Db | Tx;

export const MIGRATIONS_DIR = path.join(import.meta.dirname, 'migrations');

export interface DatabaseHandle {
  db: Db;
  driver: 'pglite' | 'pg';
  /** Where the data lives (PGlite directory or the server URL without password). */
  location: string;
  migrate(): Promise<void>;
  /** Cheap liveness probe for /api/health. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

/**
 * Opens the database: a PostgreSQL server when `url` is given, otherwise PGlite (in-process
 * Postgres) in `pgliteDir`. The caller must already own the data directory's lock: PGlite has no
 * cross-process lock of its own.
 */
export async function openDatabase(opts: { url?: string; pgliteDir?: string; logger?: Logger }): Promise<DatabaseHandle> {
  if (opts.url) {
    const { default: pg } = await import('pg');
    const { drizzle } = await import('drizzle-orm/node-postgres');
    const { migrate } = await import('drizzle-orm/node-postgres/migrator');
    const pool = new pg.Pool({ connectionString: opts.url, max: 10 });
    pool.on('error', (e) => opts.logger?.error({ err: e }, 'postgres pool error'));
    const db = drizzle(pool, { schema, casing: 'snake_case' }) as unknown as Db;
    return {
      db,
      driver: 'pg',
      location: redactUrl(opts.url),
      migrate: async () => {
        await migrate(drizzle(pool, { schema, casing: 'snake_case' }), { migrationsFolder: MIGRATIONS_DIR });
      },
      ping: async () => {
        await pool.query('select 1');
      },
      close: async () => {
        await pool.end();
      },
    };
  }
  if (!opts.pgliteDir) throw new Error('openDatabase needs a url or a pgliteDir');
  const inMemory = opts.pgliteDir === 'memory://';
  if (!inMemory) fs.mkdirSync(opts.pgliteDir, { recursive: true });
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  const client = inMemory ? await PGlite.create() : await PGlite.create(opts.pgliteDir);
  const raw = drizzle(client, { schema, casing: 'snake_case' });
  let closed = false;
  return {
    db: raw as unknown as Db,
    driver: 'pglite',
    location: opts.pgliteDir,
    migrate: async () => {
      await migrate(raw, { migrationsFolder: MIGRATIONS_DIR });
    },
    ping: async () => {
      await client.query('select 1');
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await client.close();
    },
  };
}
