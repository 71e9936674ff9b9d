import type { Environment } from './runtime';

/** Placeholder until the lab connector lands: the process environment (lab or real hypervisors). */
export async function createProcessEnvironment(): Promise<Environment> {
  throw new Error('the lab environment is not available in this build');
}
