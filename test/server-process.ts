import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..');
/** The `quiesce` CLI's entry point (run with `process.execPath`). */
export const CLI_ENTRY = path.join(ROOT, 'bin', 'quiesce.mjs');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  env: NodeJS.ProcessEnv;
  logFile: string;
  /** SIGKILL: no shutdown code runs. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the real server process (API only, no dashboard) on a data directory. */
export async function startServerProcess(dataDir: string, port: number, extraEnv: Record<string, string> = {}): Promise<ServerProcess> {
  const url = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    QUIESCE_DATA_DIR: dataDir,
    QUIESCE_URL: url,
    QUIESCE_PUBLIC_URL: url,
    QUIESCE_UI: 'off',
    QUIESCE_ADMIN_PASSWORD: 'test-admin-password',
    LOG_LEVEL: 'info',
    ...extraEnv,
  };
  delete env.DATABASE_URL;
  delete env.QUIESCE_TOKEN;
  const logFile = path.join(dataDir, `server-${Date.now()}.log`);
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'server', 'main.ts')], { cwd: ROOT, env, stdio: ['ignore', out, out] });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited) throw new Error(`server exited during start:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`server not healthy after 120 s:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
    try {
      const r = await fetch(`${url}/api/health`);
      if (r.status === 200) break;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  const waitExit = () => new Promise<void>((r) => (exited ? r() : child.once('exit', () => r())));
  return {
    url,
    child,
    env,
    logFile,
    async kill9() {
      child.kill('SIGKILL');
      await waitExit();
    },
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await waitExit();
      clearTimeout(t);
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

/** Runs the real `quiesce` CLI. */
export function cli(args: string[], env: NodeJS.ProcessEnv): CliResult {
  const r = spawnSync(process.execPath, [CLI_ENTRY, ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 300_000 });
  let json: unknown = null;
  const last = r.stdout.trim().split('\n').pop();
  if (args.includes('--json') && last) {
    try {
      json = JSON.parse(last);
    } catch {
      json = null;
    }
  }
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
}
