// Integration tests: nothing global yet beyond a scratch directory; the Postgres server harness
// (test/postgres-server.ts) is started by the suites that need it.
import fs from 'node:fs';
import path from 'node:path';

export default function setup() {
  fs.mkdirSync(path.resolve(import.meta.dirname, '..', '.tmp'), { recursive: true });
}
