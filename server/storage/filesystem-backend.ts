import { initRepository, openRepository } from '@/server/repository';
import type { RepositoryBackend } from '@/server/runtime';

/** Storage units on filesystem directories, each holding one repository. */
export const filesystemRepositories: RepositoryBackend = {
  open: (unit) => openRepository({ path: unit.path, keyFile: unit.keyFile }),
  init: async (dir) => void (await initRepository({ path: dir })),
};
