import { chaosScenario, createLab } from '@/server/connectors/lab';
import type { ChaosEnvironmentFactory } from './run-chaos';

/** The chaos harness's lab: a fresh data center built from the seed's scenario. */
export const createChaosLab: ChaosEnvironmentFactory = async ({ dir, seed, minutes, clock, logger }) => {
  const lab = await createLab({ dir, clock, logger: logger.child({ component: 'lab' }), seed, scenario: chaosScenario(seed, minutes), workloads: true });
  return {
    connectors: { hypervisor: lab.hypervisor, cache: lab.cache, guest: lab.guest },
    handle: {
      inspect: () => lab.control.inspect(),
      oracle: (id, d) => lab.control.oracle(id, d),
      events: (o) => lab.control.events(o),
      injectFault: (f) => lab.control.injectFault(f as { kind: string }),
    },
    start: () => lab.start(),
    stop: () => lab.stop(),
    metrics: () => lab.control.metrics(),
  };
};
