export * from './auth';
export * from './storage-units';
export * from './policies';
export * from './jobs';
export * from './restore-points';
export * from './audit';
export * from './settings';
export * from './engine';
