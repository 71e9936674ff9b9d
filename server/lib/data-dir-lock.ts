import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DomainError } from '@/server/errors';
import { isProcessAlive } from './process-alive';

export interface LockOwner {
  pid: number;
  hostname: string;
  startedAt: string;
  /** What holds it: the server (with its URL) or a CLI command. */
  purpose: string;
  url: string | null;
}

export interface DataDirLock {
  readonly file: string;
  readonly owner: LockOwner;
  release(): void;
}

export class DataDirLockedError extends DomainError {
  readonly owner: LockOwner;
  constructor(dir: string, owner: LockOwner) {
    super(
      'CONFLICT',
      `data directory ${dir} is in use by process ${owner.pid} (${owner.purpose}${owner.url ? ` at ${owner.url}` : ''}, since ${owner.startedAt}); stop it or use another --data-dir`,
      { details: { owner } },
    );
    this.owner = owner;
  }
}

export function lockFile(dataDir: string): string {
  return path.join(dataDir, 'quiesce.lock');
}

/** Who owns the directory now, or null when nobody (a stale lock of a dead process counts as nobody). */
export function readLockOwner(dataDir: string): LockOwner | null {
  try {
    const owner = JSON.parse(fs.readFileSync(lockFile(dataDir), 'utf8')) as LockOwner;
    if (owner.hostname === os.hostname() && !isProcessAlive(owner.pid)) return null;
    return owner;
  } catch {
    return null;
  }
}

/**
 * One process owns a data directory (the embedded database has no lock of its own). Takes the
 * lock file with O_EXCL; a lock left by a dead process on this host is taken over.
 */
export function acquireDataDirLock(dataDir: string, purpose: string, url: string | null = null): DataDirLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = lockFile(dataDir);
  const owner: LockOwner = { pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString(), purpose, url };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o644);
      fs.writeSync(fd, JSON.stringify(owner));
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.removeListener('exit', release);
        try {
          const current = JSON.parse(fs.readFileSync(file, 'utf8')) as LockOwner;
          if (current.pid === process.pid) fs.unlinkSync(file);
        } catch {
          /* already gone */
        }
      };
      process.once('exit', release);
      return { file, owner, release };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const existing = readLockOwner(dataDir);
      if (existing) throw new DataDirLockedError(dataDir, existing);
      // stale (dead owner) or unreadable: remove and retry
      try {
        fs.unlinkSync(file);
      } catch {
        /* raced with another taker */
      }
    }
  }
  const existing = readLockOwner(dataDir);
  if (existing) throw new DataDirLockedError(dataDir, existing);
  throw new DomainError('CONFLICT', `could not lock data directory ${dataDir}`);
}
