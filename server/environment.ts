import path from 'node:path';
import type { Config } from '@/env';
import type { Clock } from '@/server/lib/clock';
import type { Logger } from '@/server/lib/logger';
import type { Environment } from './runtime';

/**
 * The outside world of the server process. Today that is the lab data center (in the data
 * directory, seeded, optionally from a topology or scenario file); real hypervisor connectors plug
 * in here behind the same interfaces.
 */
export async function createProcessEnvironment({ config, clock, logger }: { config: Config; clock: Clock; logger: Logger }): Promise<Environment> {
  if (!config.lab.enabled) throw new Error('no hypervisor is configured: enable the lab (QUIESCE_LAB=on)');
  const { createLab, labEnvironment } = await import('@/server/connectors/lab');
  const lab = await createLab({
    dir: path.join(config.dataDir, 'lab'),
    ...(config.lab.topologyFile ? { topologyFile: config.lab.topologyFile } : {}),
    seed: config.lab.seed,
    clock,
    logger: logger.child({ component: 'lab' }),
    workloads: true,
  });
  return labEnvironment(lab);
}
