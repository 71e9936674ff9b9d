/**
 * The Quiesce server process: dashboard (Next.js), API (tRPC, auth), engine, scheduler and the lab,
 * in one process that owns the data directory. Started by `npm start` (scripts/start.mjs).
 */
import http from 'node:http';
import path from 'node:path';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { toNodeHandler } from 'better-auth/node';
import next from 'next';
import { loadConfig } from '@/env';
import { appRouter } from '@/server/api/root';
import { createLogger } from '@/server/lib/logger';
import { createRuntime, type Runtime } from './runtime';
import { setRuntime } from './runtime-handle';
import { createProcessEnvironment } from './environment';
import { filesystemRepositories } from './storage/filesystem-backend';

function headersOf(req: http.IncomingMessage): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) h.append(k, x);
    else h.set(k, v);
  }
  return h;
}

function printFirstStart(rt: Runtime, url: string): void {
  const r = rt.bootstrapReport;
  if (!r?.admin) return;
  const lines = [
    '',
    '  Quiesce is ready for its first sign-in',
    `    dashboard:  ${url}`,
    `    e-mail:     ${r.admin.email}`,
    `    password:   ${r.admin.password}${r.admin.generated ? '   (generated: change it, or set QUIESCE_ADMIN_PASSWORD before the first start)' : ''}`,
    `    CLI token:  ${r.cliTokenFile}`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function startServer(): Promise<{ close(): Promise<void>; url: string }> {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel });
  const url = config.publicUrl;
  const nextApp = config.ui ? next({ dev: config.dev, dir: path.resolve(import.meta.dirname, '..'), hostname: config.host, port: config.port }) : null;
  const nextReady = nextApp?.prepare();

  const rt = await createRuntime({
    config,
    purpose: 'server',
    logger,
    url: `http://127.0.0.1:${config.port}`,
    createEnvironment: createProcessEnvironment,
    repositories: filesystemRepositories,
    engine: { enabled: config.engine.enabled },
    scheduler: config.engine.scheduler,
    bootstrap: true,
  });
  setRuntime(rt);
  await nextReady;
  const nextHandler = nextApp?.getRequestHandler();
  const authHandler = toNodeHandler(rt.auth);
  const trpcHandler = createHTTPHandler({
    router: appRouter,
    basePath: '/api/trpc/',
    createContext: async ({ req }) => {
      const actor = await rt.actorFromHeaders(headersOf(req));
      const requestId = (req.headers['x-request-id'] as string | undefined) ?? undefined;
      return { service: rt.serviceContext(actor, requestId) };
    },
  });

  const server = http.createServer((req, res) => {
    const u = req.url ?? '/';
    const handle = async () => {
      if (u === '/api/health' || u.startsWith('/api/health?')) {
        const h = await rt.health();
        res.writeHead(h.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(h));
        return;
      }
      if (u.startsWith('/api/auth/')) return authHandler(req, res);
      if (u.startsWith('/api/trpc/')) return trpcHandler(req, res);
      if (nextHandler) return nextHandler(req, res);
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('this server runs without the dashboard (QUIESCE_UI=off)');
    };
    handle().catch((e) => {
      logger.error({ err: e, url: u }, 'request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error');
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  logger.info({ url, dataDir: config.dataDir, database: rt.database.location }, 'Quiesce server listening');
  printFirstStart(rt, url);

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      logger.info('shutting down: draining jobs');
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections?.();
      await rt.close();
      setRuntime(null);
      await nextApp?.close?.();
    })();
    return closing;
  };
  return { close, url };
}

/** Starts the server and stops it gracefully on SIGTERM/SIGINT. */
export function runServerProcess(): void {
  startServer().then(
    ({ close }) => {
      const onSignal = (sig: string) => {
        process.stderr.write(`\nreceived ${sig}; stopping (jobs in flight are handed back and resumed at the next start)\n`);
        const force = setTimeout(() => process.exit(1), 30_000);
        force.unref();
        close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      process.once('SIGINT', () => onSignal('SIGINT'));
    },
    (e) => {
      process.stderr.write(`quiesce: could not start: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}

const isEntry = process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename);
if (isEntry) runServerProcess();
