import { chaosScenario, createLab, labEnvironment } from '@/server/connectors/lab';
import type { ChaosEnvironmentFactory } from './run-chaos';

/** The chaos harness's lab: a fresh data center built from the seed's scenario. */
export const createChaosLab: ChaosEnvironmentFactory = async ({ dir, seed, minutes, clock, logger }) => {
  const lab = await createLab({ dir, clock, logger: logger.child({ component: 'lab' }), seed, scenario: chaosScenario(seed, minutes), workloads: true });
  const env = labEnvironment(lab);
  return { connectors: env.connectors, handle: env.lab, start: env.start, stop: env.stop, metrics: () => lab.control.metrics() };
};
