/**
 * Predicts the stun a snapshot's removal will cause. While a snapshot is open the guest's writes
 * grow its redo log; removal merges the log back in passes while the guest keeps writing, and the
 * last pass stuns (pauses) the VM for the time it takes to merge what is left. A guest that writes
 * faster than the datastore consolidates never converges: after `maxPasses` the VM is stunned for
 * the whole remaining delta.
 */
export interface StunModel {
  writeBytesPerSec: number;
  consolidationBytesPerSec: number;
  /** A pass whose delta is at most this big is run with the VM stunned. */
  stunPassMaxBytes: number;
  maxPasses: number;
}

export interface StunPrediction {
  redoBytes: number;
  passes: number;
  stunMs: number;
  converges: boolean;
}

export function predictStun(model: StunModel, snapshotLifetimeMs: number): StunPrediction {
  const W = Math.max(0, model.writeBytesPerSec);
  const C = Math.max(1, model.consolidationBytesPerSec);
  let delta = (W * snapshotLifetimeMs) / 1000;
  const redoBytes = delta;
  let passes = 0;
  while (delta > model.stunPassMaxBytes && passes < model.maxPasses - 1) {
    const seconds = delta / C;
    delta = W * seconds;
    passes++;
  }
  passes++;
  return { redoBytes, passes, stunMs: Math.round((delta / C) * 1000), converges: W < C };
}

/** How long a snapshot will stay open: the bytes to read over the transport, plus the setup. */
export function estimateSnapshotLifetimeMs(bytesToRead: number, readBytesPerSec: number, overheadMs = 5_000): number {
  return overheadMs + (bytesToRead / Math.max(1, readBytesPerSec)) * 1000;
}
