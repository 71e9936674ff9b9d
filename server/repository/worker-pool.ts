import os from 'node:os';
import { Worker } from 'node:worker_threads';

interface Pending {
  resolve: (v: any) => void;
  reject: (e: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  pending: Map<number, Pending>;
  load: number;
}

/** Threads a repository works with by default: one per core, at most four. */
export function defaultLanes(): number {
  return Math.max(1, Math.min(os.availableParallelism(), 4));
}

/**
 * The repository's worker threads (one per core by default): restores' and verification's
 * decoding and re-hashing, and a backup's hashing, compression and encryption when the native
 * engine is not available. They start when first needed (a backup on the native engine starts
 * none: a worker isolate costs ~60 ms of CPU and thousands of fresh pages), each with `init` as
 * its first message. Messages carry ArrayBuffers by transfer, not by copy.
 */
export class WorkerPool {
  private workers: PoolWorker[] | null = null;
  private nextId = 1;
  private closed = false;

  constructor(
    readonly size = defaultLanes(),
    private readonly init: Record<string, unknown> | null = null,
  ) {}

  /** Starts the workers now (they take a while; an operation that will need them asks early). */
  warm(): void {
    if (!this.closed) this.started();
  }

  private started(): PoolWorker[] {
    if (this.workers) return this.workers;
    const workers: PoolWorker[] = [];
    this.workers = workers;
    for (let i = 0; i < this.size; i++) {
      const w: PoolWorker = { worker: new Worker(new URL('./chunk-worker.mjs', import.meta.url)), pending: new Map(), load: 0 };
      w.worker.on('message', (m: { id: number; ok: boolean; error?: string }) => {
        const p = w.pending.get(m.id);
        if (!p) return;
        w.pending.delete(m.id);
        w.load--;
        // Idle workers must not keep the process alive; busy ones must.
        if (w.load === 0) w.worker.unref();
        if (m.ok) p.resolve(m);
        else p.reject(new Error(m.error ?? 'worker failed'));
      });
      w.worker.on('error', (e) => {
        for (const p of w.pending.values()) p.reject(e);
        w.pending.clear();
      });
      w.worker.unref();
      workers.push(w);
      // Messages are handled in order: every later one finds the worker initialised (a failed
      // init fails them on their own).
      if (this.init) this.post(w, this.init, []).catch(() => undefined);
    }
    return workers;
  }

  /** The least busy worker; work that must stay on one worker (a segment between hash and seal) passes it back in. */
  pick(): number {
    const workers = this.started();
    let best = 0;
    for (let i = 1; i < workers.length; i++) if (workers[i]!.load < workers[best]!.load) best = i;
    return best;
  }

  call<T>(workerIndex: number, msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.closed) return Promise.reject(new Error('repository is closed'));
    return this.post<T>(this.started()[workerIndex]!, msg, transfer);
  }

  private post<T>(w: PoolWorker, msg: Record<string, unknown>, transfer: ArrayBuffer[]): Promise<T> {
    const id = this.nextId++;
    if (w.load === 0) w.worker.ref();
    w.load++;
    return new Promise<T>((resolve, reject) => {
      w.pending.set(id, { resolve, reject });
      w.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const workers = this.workers ?? [];
    this.workers = [];
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }
}
