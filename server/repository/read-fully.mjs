// Reads a stretch of a file descriptor in full with fs.read's callback API (cheaper on a
// JavaScript thread than a FileHandle, and reads run on libuv's pool). Plain JavaScript: the
// worker threads use it as well as the main thread.
import fs from 'node:fs';

/**
 * Reads `length` bytes at file offset `pos` of `fd` into `buf` at `at`. A file that ends first is
 * an error: `short(done)` makes it (`done` bytes were read).
 */
export function readFully(fd, buf, at, length, pos, short) {
  return new Promise((resolve, reject) => {
    const step = (done) => {
      if (done === length) return resolve();
      fs.read(fd, buf, at + done, length - done, pos + done, (err, n) => {
        if (err) return reject(err);
        if (n === 0) return reject(short(done));
        step(done + n);
      });
    };
    step(0);
  });
}
