import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { native } from './native.mjs';

/** Writes a file durably: temp name, fsync, rename, fsync of the directory. Pieces are written one after another (no copy into one buffer). */
export async function writeFileAtomic(file: string, data: Buffer | string | Buffer[], mode = 0o644): Promise<void> {
  const tmp = path.join(path.dirname(file), `.tmp-${path.basename(file)}-${randomUUID().slice(0, 8)}`);
  const fh = await fs.promises.open(tmp, 'wx', mode);
  try {
    if (Array.isArray(data)) await writePieces(fh, data);
    else await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
  await syncDir(path.dirname(file));
}

/**
 * Writes `pieces` one after another from the file's start: gathered writes of up to 1024 pieces
 * each (a manifest is a few pieces per window of an incremental: hundreds), then the rest of a
 * short one.
 */
async function writePieces(fh: fs.promises.FileHandle, pieces: Buffer[]): Promise<void> {
  let pos = 0;
  for (let i = 0; i < pieces.length; i += 1024) {
    const batch = pieces.slice(i, i + 1024);
    let wrote = (await fh.writev(batch, pos)).bytesWritten;
    for (const b of batch) {
      // What a short gathered write left of this piece, piece by piece.
      for (let done = Math.min(wrote, b.length); done < b.length; ) done += (await fh.write(b, done, b.length - done, pos + done)).bytesWritten;
      wrote = Math.max(0, wrote - b.length);
      pos += b.length;
    }
  }
}

export async function syncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Reads exactly `length` bytes at `position` (short reads are an error: a truncated file). */
export async function readExactly(fh: fs.promises.FileHandle, buf: Buffer, offset: number, length: number, position: number, what: string): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, offset + done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`${what} is truncated (wanted ${length} bytes at ${position}, file ends after ${done})`);
    done += bytesRead;
  }
}

/** Files at least this big are mapped rather than read (below it a read costs less than a mapping). */
const MAP_FILE_MIN = 64 << 10;

/**
 * A whole file's bytes, for files that are written once and never changed in place (restore point
 * manifests, pack index files): a read-only mapping of the page cache when the native addon is
 * there (no fresh memory to fault in and no copy: on these VMs a page touched for the first time
 * costs a host fault), else a read. Nothing may write to the bytes. `release` unmaps at once (the
 * bytes become empty); a mapping never released goes when the buffer is collected.
 */
export async function readFileShared(file: string): Promise<{ buf: Buffer; release: () => void }> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (native?.mapRange && size >= MAP_FILE_MIN) {
      const ab = (await native.mapRange(fh.fd, 0, size)) as ArrayBuffer;
      return { buf: Buffer.from(ab), release: () => native.unmapRange(ab) };
    }
    const buf = Buffer.allocUnsafe(size);
    await readExactly(fh, buf, 0, size, 0, file);
    return { buf, release: () => {} };
  } finally {
    await fh.close();
  }
}
