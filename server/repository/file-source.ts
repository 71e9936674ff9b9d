import fs from 'node:fs';
import { native } from './native.mjs';
import { readFully } from './read-fully.mjs';
import { RepositoryError } from './format';
import { readExactly } from './files';
import type { ImageSource } from './types';

/** A disk image file as a backup source. Directories, empty files and unreadable paths are refused. */
export async function openFileSource(file: string): Promise<ImageSource & { close(): Promise<void> }> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(file);
  } catch {
    throw new RepositoryError('NOT_FOUND', `${file} does not exist`);
  }
  if (st.isDirectory()) throw new RepositoryError('VALIDATION', `${file} is a directory, not a disk image`);
  if (!st.isFile() && !st.isBlockDevice()) throw new RepositoryError('VALIDATION', `${file} is not a regular file or block device`);
  if (st.isFile() && st.size === 0) throw new RepositoryError('VALIDATION', `${file} is empty: not a disk image`);
  const fh = await fs.promises.open(file, 'r').catch((e: Error) => {
    throw new RepositoryError('VALIDATION', `${file} cannot be read: ${e.message}`);
  });
  const sizeBytes = st.isFile() ? st.size : Number((await fh.stat()).size);
  return {
    sizeBytes,
    fd: fh.fd,
    async read(offset, length) {
      const buf = Buffer.allocUnsafe(length);
      await readExactly(fh, buf, 0, length, offset, file);
      return buf;
    },
    // The descriptor's callback API: a FileHandle read costs more on the JavaScript thread, and an
    // incremental makes thousands of small reads.
    readInto: (offset, target) =>
      readFully(fh.fd, target, 0, target.byteLength, offset, (done: number) => new RepositoryError('INTERNAL', `${file} is truncated (wanted ${target.byteLength} bytes at ${offset}, file ends after ${done})`)),
    // A sparse file's holes are zeros: they are not read (the native addon asks the file system).
    ...(native && st.isFile()
      ? {
          async allocatedExtents() {
            const e = native.dataExtents(fh.fd, sizeBytes) as Float64Array | null;
            if (!e) return [[0, sizeBytes]];
            const out: Array<[number, number]> = [];
            for (let i = 0; i < e.length; i += 2) out.push([e[i]!, e[i + 1]!]);
            return out;
          },
        }
      : {}),
    close: () => fh.close(),
  };
}
