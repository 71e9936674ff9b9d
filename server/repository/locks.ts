import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isProcessAlive } from '@/server/lib/process-alive';
import { RepositoryError } from './format';

interface LockRecord {
  kind: 'shared' | 'exclusive';
  pid: number;
  hostname: string;
  purpose: string;
  createdAt: string;
}

const STALE_MS = 6 * 3_600_000;

function live(dir: string): Array<{ file: string; rec: LockRecord }> {
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out = [];
  for (const n of names) {
    if (!n.endsWith('.lock')) continue;
    const file = path.join(dir, n);
    try {
      const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as LockRecord;
      const dead = (rec.hostname === os.hostname() && !isProcessAlive(rec.pid)) || Date.now() - Date.parse(rec.createdAt) > STALE_MS;
      if (dead) fs.rmSync(file, { force: true });
      else out.push({ file, rec });
    } catch {
      /* being written, or removed meanwhile */
    }
  }
  return out;
}

export interface RepoLock {
  release(): void;
}

/**
 * Backups hold shared locks; GC and prune hold an exclusive one, so GC never removes a chunk that
 * an in-progress backup may refer to. Locks of dead processes are removed on sight.
 */
export async function acquireLock(dir: string, kind: 'shared' | 'exclusive', purpose: string, opts: { waitMs?: number; signal?: AbortSignal } = {}): Promise<RepoLock> {
  fs.mkdirSync(dir, { recursive: true });
  const deadline = Date.now() + (opts.waitMs ?? 0);
  const file = path.join(dir, `${process.pid}-${randomUUID().slice(0, 8)}-${kind}.lock`);
  const rec: LockRecord = { kind, pid: process.pid, hostname: os.hostname(), purpose, createdAt: new Date().toISOString() };
  for (;;) {
    fs.writeFileSync(file, JSON.stringify(rec), { flag: 'wx' });
    const others = live(dir).filter((l) => l.file !== file);
    const conflict = kind === 'exclusive' ? others : others.filter((l) => l.rec.kind === 'exclusive');
    if (conflict.length === 0) {
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          fs.rmSync(file, { force: true });
        },
      };
    }
    fs.rmSync(file, { force: true });
    if (Date.now() >= deadline || opts.signal?.aborted) {
      const c = conflict[0]!.rec;
      throw new RepositoryError('CONFLICT', `repository is locked by process ${c.pid} (${c.purpose}, ${c.kind}, since ${c.createdAt}); try again when it has finished`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
