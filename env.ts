import path from 'node:path';
import { z } from 'zod';

/**
 * The process configuration. Nothing else reads process.env: the server, the CLI and the tests
 * build a Config here (tests and the CLI pass overrides).
 */
const emptyAsUndefined = (v: unknown) => (v === '' ? undefined : v);
const optionalString = z.preprocess(emptyAsUndefined, z.string().optional());
const flag = (def: boolean) =>
  z.preprocess(emptyAsUndefined, z.enum(['on', 'off', 'true', 'false', '1', '0']).optional()).transform((v) => (v === undefined ? def : ['on', 'true', '1'].includes(v)));

const EnvSchema = z.object({
  QUIESCE_DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default('./.quiesce')),
  DATABASE_URL: z.preprocess(emptyAsUndefined, z.string().url().optional()),
  PORT: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(65535).default(3000)),
  HOST: z.preprocess(emptyAsUndefined, z.string().default('0.0.0.0')),
  QUIESCE_PUBLIC_URL: optionalString,
  QUIESCE_ADMIN_EMAIL: z.preprocess(emptyAsUndefined, z.string().email().default('admin@quiesce.local')),
  QUIESCE_ADMIN_PASSWORD: z.preprocess(emptyAsUndefined, z.string().min(8, 'QUIESCE_ADMIN_PASSWORD must have at least 8 characters').optional()),
  BETTER_AUTH_SECRET: optionalString,
  QUIESCE_URL: z.preprocess(emptyAsUndefined, z.string().url().default('http://127.0.0.1:3000')),
  QUIESCE_TOKEN: optionalString,
  QUIESCE_LAB: flag(true),
  QUIESCE_LAB_TOPOLOGY: optionalString,
  QUIESCE_LAB_SPEED: z.preprocess(emptyAsUndefined, z.coerce.number().positive().default(1)),
  QUIESCE_LAB_SEED: z.preprocess(emptyAsUndefined, z.coerce.number().int().default(1)),
  QUIESCE_ENGINE: flag(true),
  QUIESCE_ENGINE_CONCURRENCY: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(64).default(3)),
  QUIESCE_SCHEDULER: flag(true),
  /** Serve the dashboard (off: API, auth and health only — for headless engines and tests). */
  QUIESCE_UI: flag(true),
  QUIESCE_LIMIT_DATASTORE_SNAPSHOTS: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(256).default(4)),
  QUIESCE_LIMIT_HOST_SNAPSHOTS: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(256).default(4)),
  LOG_LEVEL: z.preprocess(emptyAsUndefined, z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
  NODE_ENV: z.preprocess(emptyAsUndefined, z.enum(['development', 'production', 'test']).default('production')),
});

export interface Config {
  dataDir: string;
  databaseUrl: string | undefined;
  port: number;
  host: string;
  publicUrl: string;
  adminEmail: string;
  adminPassword: string | undefined;
  authSecret: string | undefined;
  serverUrl: string;
  token: string | undefined;
  lab: { enabled: boolean; topologyFile: string | undefined; speed: number; seed: number };
  engine: { enabled: boolean; concurrency: number; scheduler: boolean };
  ui: boolean;
  limits: { datastoreSnapshots: number; hostSnapshots: number };
  logLevel: string;
  dev: boolean;
}

export function loadConfig(source: Record<string, string | undefined> = process.env, overrides: Partial<Config> = {}): Config {
  const parsed = EnvSchema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`invalid environment:\n${lines}`);
  }
  const e = parsed.data;
  const config: Config = {
    dataDir: path.resolve(e.QUIESCE_DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    port: e.PORT,
    host: e.HOST,
    publicUrl: e.QUIESCE_PUBLIC_URL ?? `http://localhost:${e.PORT}`,
    adminEmail: e.QUIESCE_ADMIN_EMAIL,
    adminPassword: e.QUIESCE_ADMIN_PASSWORD,
    authSecret: e.BETTER_AUTH_SECRET,
    serverUrl: e.QUIESCE_URL,
    token: e.QUIESCE_TOKEN,
    lab: { enabled: e.QUIESCE_LAB, topologyFile: e.QUIESCE_LAB_TOPOLOGY, speed: e.QUIESCE_LAB_SPEED, seed: e.QUIESCE_LAB_SEED },
    engine: { enabled: e.QUIESCE_ENGINE, concurrency: e.QUIESCE_ENGINE_CONCURRENCY, scheduler: e.QUIESCE_SCHEDULER },
    ui: e.QUIESCE_UI,
    limits: { datastoreSnapshots: e.QUIESCE_LIMIT_DATASTORE_SNAPSHOTS, hostSnapshots: e.QUIESCE_LIMIT_HOST_SNAPSHOTS },
    logLevel: e.LOG_LEVEL,
    dev: e.NODE_ENV === 'development',
  };
  return { ...config, ...overrides };
}
