import type { RepositoryBackend } from '@/server/runtime';

/** Placeholder until the repository lands. */
export const filesystemRepositories: RepositoryBackend = {
  open: async () => {
    throw new Error('the repository is not available in this build');
  },
  init: async () => {
    throw new Error('the repository is not available in this build');
  },
};
