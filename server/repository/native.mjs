// The data plane's native addon (native/data-plane.c, built by `npm install`): content-defined
// chunking, sparse-file extents (SEEK_DATA) and O_DIRECT writes. Null when it could not be built;
// every caller then has a JavaScript or page-cache path.
import { createRequire } from 'node:module';

export const native = (() => {
  try {
    return createRequire(import.meta.url)('../../build/Release/quiesce_native.node');
  } catch {
    return null;
  }
})();
