import fs from 'node:fs';
import { DIRECT_ALIGN, DirectWriteQueue, openDirect } from './direct-io';

/** Staged bytes written at once (and the most a writer holds besides the writes in flight). */
const FLUSH_BYTES = 4 << 20;
/** Zero runs shorter than this are written (a hole costs a seek and a block of metadata). */
const HOLE_MIN = 64 << 10;
const ZERO = Buffer.alloc(HOLE_MIN);

/**
 * Writes a restored disk image front to back, sparse: long zero runs become holes, data goes out in
 * whole aligned blocks through O_DIRECT (a partial block at a run's edge is completed with the zeros
 * that are really there). Falls back to positioned buffered writes where O_DIRECT is not available.
 */
export interface ImageWriter {
  /**
   * The next `length` bytes of the image: `data`, or zeros when null. Resolves when memory allows
   * more; `release` is called once `data` is no longer needed (written, or copied).
   */
  put(data: Buffer | null, length: number, release?: () => void): Promise<void>;
  /** Every byte put is durable and the file is `size` bytes long. */
  finish(size: number): Promise<void>;
  close(): Promise<void>;
}

export async function openImageWriter(file: string): Promise<ImageWriter> {
  const fd = openDirect(file, fs.constants.O_CREAT | fs.constants.O_TRUNC);
  if (fd !== null) return directImageWriter(new DirectWriteQueue(fd, 2));
  const out = await fs.promises.open(file, 'w', 0o600);
  let pos = 0;
  return {
    async put(data, length, release) {
      if (data) {
        let w = 0;
        while (w < length) w += (await out.write(data, w, length - w, pos + w)).bytesWritten;
      }
      release?.();
      pos += length;
    },
    async finish(size) {
      await out.truncate(size);
      await out.sync();
      await out.close();
    },
    close: () => out.close().catch(() => undefined),
  };
}

function directImageWriter(q: DirectWriteQueue): ImageWriter {
  /** Next image offset; staged bytes cover [stageStart, pos) with stageStart block-aligned. */
  let pos = 0;
  let stageStart = 0;
  let stage: Buffer[] = [];
  /** Who to tell when the staged buffers are written. */
  let releases: Array<() => void> = [];
  let staged = 0;
  const waiting: Array<() => void> = [];
  let inflightBytes = 0;
  const written = (n: number, done: Array<() => void>) => () => {
    inflightBytes -= n;
    for (const r of done) r();
    while (inflightBytes < 2 * FLUSH_BYTES && waiting.length) waiting.shift()!();
  };
  /** Writes the block-aligned prefix of the staged bytes (all of them, padded, when `all`). */
  const flush = (all: boolean) => {
    const count = all ? staged : staged - (staged % DIRECT_ALIGN);
    if (count === 0) return;
    const keep = staged - count;
    const parts = stage;
    const padded = Math.ceil(count / DIRECT_ALIGN) * DIRECT_ALIGN;
    inflightBytes += padded;
    q.write(parts, count, stageStart, written(padded, releases));
    stage = [];
    releases = [];
    staged = 0;
    if (keep > 0) {
      // The unaligned rest starts the next block: copy it out of the parts just handed over.
      const rest = Buffer.allocUnsafe(keep);
      let o = keep;
      for (let i = parts.length - 1; i >= 0 && o > 0; i--) {
        const p = parts[i]!;
        const n = Math.min(o, p.length);
        p.copy(rest, o - n, p.length - n);
        o -= n;
      }
      stage = [rest];
      staged = keep;
      stageStart += count;
    }
  };
  const stageBytes = (b: Buffer, release?: () => void) => {
    if (staged === 0) {
      // A new staging run starts at the block boundary; the bytes before pos in that block are zeros.
      stageStart = pos - (pos % DIRECT_ALIGN);
      if (pos > stageStart) {
        stage.push(ZERO.subarray(0, pos - stageStart));
        staged = pos - stageStart;
      }
    }
    stage.push(b);
    if (release) releases.push(release);
    staged += b.length;
    pos += b.length;
    if (staged >= FLUSH_BYTES) flush(false);
  };
  return {
    async put(data, length, release) {
      if (data) stageBytes(data.length === length ? data : data.subarray(0, length), release);
      else if (length < HOLE_MIN) stageBytes(ZERO.subarray(0, length));
      else {
        // A hole: complete the staged block with zeros, write what is staged, skip the rest.
        if (staged > 0) {
          const fill = (DIRECT_ALIGN - ((stageStart + staged) % DIRECT_ALIGN)) % DIRECT_ALIGN;
          if (fill) {
            stage.push(ZERO.subarray(0, fill));
            staged += fill;
          }
          flush(true);
        }
        pos += length;
      }
      while (inflightBytes >= 2 * FLUSH_BYTES) await new Promise<void>((r) => waiting.push(r));
    },
    async finish(size) {
      if (staged > 0) flush(true);
      await q.finish(size);
    },
    close: () => q.close(),
  };
}
