/**
 * At most `capacity` bytes of buffers in flight, across every backup and restore of one open
 * repository (a task bigger than the capacity runs alone). The oldest operation goes first (its
 * `rank`, from `nextRank()`; equal ranks first come, first served): when several images are backed
 * up at once, the first one finishes first and its commit overlaps the others' work — and its VM's
 * snapshot goes sooner — instead of all of them finishing together with their commits in a row.
 * Restores are urgent: a backup that keeps the budget busy does not hold one up.
 */
/** Urgent ranks lie this far below the others (more operations than this never start). */
const URGENT = 2 ** 48;

export class ByteBudget {
  private free: number;
  private ranks = 0;
  private readonly waiting: Array<{ bytes: number; rank: number; go: () => void }> = [];
  constructor(private readonly capacity: number) {
    this.free = capacity;
  }
  /**
   * A rank for an operation that starts now: after every earlier one. An urgent operation (a
   * restore: someone is waiting for it) goes ahead of every other kind, however old; urgent ones
   * among themselves, oldest first.
   */
  nextRank(urgent = false): number {
    const r = this.ranks++;
    return urgent ? r - URGENT : r;
  }
  async run<T>(bytes: number, rank: number, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(bytes, rank);
    try {
      return await fn();
    } finally {
      release();
    }
  }
  /** Takes `bytes` of the budget until the returned function is called (once). */
  async acquire(bytes: number, rank: number): Promise<() => void> {
    const need = Math.min(bytes, this.capacity);
    const head = this.waiting[0];
    // Never ahead of an older waiter (a big task is not starved by small ones).
    if ((head && head.rank <= rank) || this.free < need) {
      await new Promise<void>((go) => {
        let at = this.waiting.length;
        while (at > 0 && this.waiting[at - 1]!.rank > rank) at--;
        this.waiting.splice(at, 0, { bytes: need, rank, go });
      });
    } else this.free -= need;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.free += need;
      while (this.waiting.length && this.free >= this.waiting[0]!.bytes) {
        const w = this.waiting.shift()!;
        this.free -= w.bytes;
        w.go();
      }
    };
  }
}
