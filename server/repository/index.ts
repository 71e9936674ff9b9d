export { initRepository, openRepository, readRepoConfig, FilesystemRepository } from './repository';
export { openFileSource } from './file-source';
export { RepositoryError } from './format';
export type * from './types';
