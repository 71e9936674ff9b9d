import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { policies } from '@/db/schema';
import { loadConfig, type Config } from '@/env';
import { createLab, labEnvironment, type LabHandleFull, type TopologyInput } from '@/server/connectors/lab';
import type { Connectors } from '@/server/connectors/types';
import type { Clock } from '@/server/lib/clock';
import { silentLogger } from '@/server/lib/logger';
import { filesystemRepositories } from '@/server/storage/filesystem-backend';
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

/**
 * A runtime over a real lab data center (workloads on) with the engine running and the bootstrap's
 * default policy disabled, so a test drives every backup itself.
 */
export async function startLabTestRuntime(
  dataDir: string,
  opts: { topology: TopologyInput; seed: number; clock: Clock },
): Promise<{ rt: Runtime; lab: LabHandleFull }> {
  let lab: LabHandleFull | null = null;
  const rt = await startTestRuntime(dataDir, {
    clock: opts.clock,
    repositories: filesystemRepositories,
    engine: { enabled: true, leaseMs: 20_000 },
    createEnvironment: async ({ clock }) => {
      lab = await createLab({ dir: path.join(dataDir, 'lab'), clock, logger: silentLogger, seed: opts.seed, topology: opts.topology, workloads: true });
      return labEnvironment(lab);
    },
    bootstrap: true,
  });
  const [p] = await rt.database.db.select().from(policies);
  await rt.caller({ kind: 'cli' }).policies.update({ id: p!.id, enabled: false });
  return { rt, lab: lab! };
}
