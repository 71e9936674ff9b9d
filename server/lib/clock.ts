/**
 * Every component that waits or stamps times takes a Clock, so the lab, the engine and the
 * scheduler can run in real time or fast-forward (the chaos harness) with the same code.
 */
export interface Clock {
  /** Milliseconds since the epoch, on this clock. */
  now(): number;
  /** Resolves after `ms` milliseconds of this clock; rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Lab milliseconds per wall millisecond (1 = real time). */
  readonly speed: number;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}

function sleepWall(wallMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, wallMs));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleepWall(ms, signal),
  speed: 1,
};

/** A clock that runs `speed` times faster than the wall clock, starting at `origin`. */
export function createScaledClock(speed: number, origin = Date.now()): Clock {
  if (!(speed > 0)) throw new Error(`clock speed must be positive, got ${speed}`);
  const wallStart = Date.now();
  return {
    now: () => Math.floor(origin + (Date.now() - wallStart) * speed),
    sleep: (ms, signal) => sleepWall(ms / speed, signal),
    speed,
  };
}

export function toDate(clock: Clock): Date {
  return new Date(clock.now());
}
