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

/**
 * The repository's worker threads (one per core by default): hashing, compression, encryption and
 * their reverse run off the main thread. Messages carry ArrayBuffers by transfer, not by copy.
 */
export class WorkerPool {
  private readonly workers: PoolWorker[] = [];
  private nextId = 1;
  private closed = false;

  constructor(size = Math.max(1, Math.min(os.availableParallelism(), 4))) {
    for (let i = 0; i < size; i++) {
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
      this.workers.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** The least busy worker; work that must stay on one worker (a segment between hash and seal) passes it back in. */
  pick(): number {
    let best = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.workers[i]!.load < this.workers[best]!.load) best = i;
    return best;
  }

  call<T>(workerIndex: number, msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.closed) return Promise.reject(new Error('repository is closed'));
    const w = this.workers[workerIndex]!;
    const id = this.nextId++;
    if (w.load === 0) w.worker.ref();
    w.load++;
    return new Promise<T>((resolve, reject) => {
      w.pending.set(id, { resolve, reject });
      w.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  async broadcast(msg: Record<string, unknown>): Promise<void> {
    await Promise.all(this.workers.map((_, i) => this.call(i, msg)));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
