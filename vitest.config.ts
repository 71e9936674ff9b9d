import path from 'node:path';
import { defineConfig } from 'vitest/config';

const alias = { '@': path.resolve(import.meta.dirname) };
const exclude = ['node_modules/**', '.next/**', '.quiesce/**', '.tmp/**', 'e2e/**'];

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['**/*.test.ts'],
          exclude: [...exclude, '**/*.int.test.ts'],
          environment: 'node',
          testTimeout: 30_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['**/*.int.test.ts'],
          exclude,
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // Real Postgres, real lab files and worker threads: keep the 2 cores for the code under test.
          fileParallelism: false,
          globalSetup: ['./test/global-setup.ts'],
        },
      },
    ],
  },
});
