import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '@/env';
import type { Connectors } from '@/server/connectors/types';
import { silentLogger } from '@/server/lib/logger';
import { createRuntime, type Environment, type RepositoryBackend, type Runtime, type RuntimeOptions } from '@/server/runtime';

/** A scratch data directory under the OS temp dir, removed by the returned function. */
export function scratchDir(prefix = 'quiesce-test-'): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function testConfig(dataDir: string, env: Record<string, string> = {}): Config {
  return loadConfig({ QUIESCE_DATA_DIR: dataDir, QUIESCE_ADMIN_PASSWORD: 'test-admin-password', LOG_LEVEL: 'silent', PORT: '39999', ...env });
}

/** Connectors for tests that never reach the environment (auth and validation paths): every call is refused. */
export function unreachableEnvironment(): Environment {
  const refuse = () => {
    throw new Error('this test does not use the environment');
  };
  const handler: ProxyHandler<object> = { get: (_t, prop) => (prop === 'kind' ? 'none' : refuse) };
  const connectors = { hypervisor: new Proxy({}, handler), cache: new Proxy({}, handler), guest: new Proxy({}, handler) } as unknown as Connectors;
  return { connectors, lab: null, start: () => undefined, stop: async () => undefined };
}

export async function startTestRuntime(
  dataDir: string,
  opts: Partial<RuntimeOptions> & { env?: Record<string, string>; repositories: RepositoryBackend; createEnvironment?: RuntimeOptions['createEnvironment'] },
): Promise<Runtime> {
  return createRuntime({
    config: testConfig(dataDir, opts.env),
    purpose: 'test',
    logger: silentLogger,
    createEnvironment: opts.createEnvironment ?? (async () => unreachableEnvironment()),
    repositories: opts.repositories,
    engine: opts.engine ?? { enabled: false },
    scheduler: opts.scheduler ?? false,
    bootstrap: opts.bootstrap ?? true,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
}
