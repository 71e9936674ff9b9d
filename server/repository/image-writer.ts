import fs from 'node:fs';
import { DIRECT_ALIGN, DirectWriteQueue, openDirect } from './direct-io';
import { native } from './native.mjs';

/** Staged bytes written at once (and the most a writer holds besides the writes in flight). */
const FLUSH_BYTES = 4 << 20;
/** Zero runs shorter than this are written (a hole costs a seek and a block of metadata). */
const HOLE_MIN = 64 << 10;
const ZERO = Buffer.alloc(HOLE_MIN);
/** Data this long, whose address agrees with its place in the image modulo a block, is written from where it is. */
const IN_PLACE_MIN = 64 << 10;

/** The first offset from `at` in `ab` whose address agrees with image offset `pos` modulo a block: bytes laid there are written in place (see put). */
export function alignedOffset(ab: ArrayBuffer, at: number, pos: number): number {
  if (!native?.alignmentOf) return at;
  const mod = (native.alignmentOf(ab) as number) + at;
  return at + ((((pos - mod) % DIRECT_ALIGN) + DIRECT_ALIGN) % DIRECT_ALIGN);
}

/**
 * Writes a restored disk image front to back, sparse: long zero runs become holes, data goes out in
 * whole aligned blocks through O_DIRECT (a partial block at a run's edge is completed with the zeros
 * that are really there). Data whose address agrees with its image offset modulo a block (see
 * alignedOffset) has its whole blocks written from where it lies, without a copy; the rest is staged.
 * Falls back to positioned buffered writes where O_DIRECT is not available.
 */
export interface ImageWriter {
  /**
   * The next `length` bytes of the image: `data`, or zeros when null. Resolves when memory allows
   * more; `release` is called once `data` is no longer needed (written, or copied).
   */
  put(data: Buffer | null, length: number, release?: () => void): Promise<void>;
  /** Every byte put is durable and the file is `size` bytes long. */
  finish(size: number): Promise<void>;
  /** Bytes written from where they were put, without a copy (see alignedOffset). */
  readonly inPlaceBytes: number;
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
    inPlaceBytes: 0,
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
  let inPlace = 0;
  /**
   * Data in place: its head completes the staged block (written now: the staged bytes then end on a
   * block boundary), its whole blocks go out as they are, its tail is staged.
   */
  const putInPlace = (data: Buffer, release?: () => void) => {
    let uses = 1;
    const done = () => {
      if (--uses === 0) release?.();
    };
    const head = (DIRECT_ALIGN - (pos % DIRECT_ALIGN)) % DIRECT_ALIGN;
    if (head) {
      uses++;
      stageBytes(data.subarray(0, head), done);
    }
    if (staged > 0) flush(true);
    const middle = Math.floor((data.length - head) / DIRECT_ALIGN) * DIRECT_ALIGN;
    inflightBytes += middle;
    uses++;
    q.write([data.subarray(head, head + middle)], middle, pos, written(middle, [done]));
    pos += middle;
    inPlace += middle;
    if (head + middle < data.length) {
      uses++;
      stageBytes(data.subarray(head + middle), done);
    }
    done();
  };
  return {
    async put(data, length, release) {
      const bytes = data && data.length !== length ? data.subarray(0, length) : data;
      if (bytes && length >= IN_PLACE_MIN && native?.alignmentOf && (native.alignmentOf(bytes) as number) === pos % DIRECT_ALIGN) putInPlace(bytes, release);
      else if (bytes) stageBytes(bytes, release);
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
    get inPlaceBytes() {
      return inPlace;
    },
  };
}
