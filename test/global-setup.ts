import fs from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startPostgresServer, type PostgresServer } from './postgres-server';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
  }
}

let server: PostgresServer | null = null;

/** Integration tests share one throwaway PostgreSQL server; each suite creates its own database on it. */
export default async function setup(project: TestProject) {
  fs.mkdirSync(path.resolve(import.meta.dirname, '..', '.tmp'), { recursive: true });
  server = await startPostgresServer();
  project.provide('pgUrl', server.url);
  return () => {
    server?.stop();
  };
}
