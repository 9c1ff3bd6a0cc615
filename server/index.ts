import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { openDatabase } from '../db/client';
import type { Database } from '../db/database';
import { authSecret, configuredAuthSecret } from './auth/next-auth';
import { type Bootstrap, bootstrap } from './bootstrap';
import { loadConfig, missingCommands } from './config/load';
import type { Config } from './config/schema';
import { syncPolicy, syncUpstreams } from './config/sync';
import { Gateway } from './gateway/gateway';
import { stampClientIp } from './http/client-ip';
import { type DirectRoutes, directRoutes } from './http/direct';
import { isAirlockError } from './lib/errors';
import { log } from './lib/log';
import { type Realtime, startRealtime } from './realtime/index';
import { clearRuntime, setRuntime } from './runtime';

export type StartOptions = {
  config?: Config;
  /** An open database (tests); otherwise DATABASE_URL or the embedded PGlite in dataDir. */
  database?: Database;
  databaseUrl?: string;
  /** The schema owner's PostgreSQL URL, for migrations (AIRLOCK_MIGRATION_DATABASE_URL). */
  migrationUrl?: string;
  dataDir?: string;
  port?: number;
  host?: string;
  publicUrl?: string;
  /** Serve the Next.js console (default true). Gateway-only tests turn it off. */
  console?: boolean;
  /** Run Next in development mode. */
  dev?: boolean;
  /** Gateway tuning, mostly for tests. */
  gateway?: {
    progressIntervalMs?: number;
    headersWaitMs?: number;
    recheckMs?: number;
    maxBodyBytes?: number;
    sessionIdleMs?: number;
    heartbeatMs?: number;
  };
};

export type Airlock = {
  url: string;
  port: number;
  database: Database;
  gateway: Gateway;
  /** socket.io for the consoles. */
  realtime: Realtime;
  instanceId: string;
  /** Secrets created on first start (admin password, demo agent token), if this start created them. */
  bootstrap: Bootstrap | null;
  close(): Promise<void>;
};

const root = resolve(import.meta.dirname, '..');
/**
 * next-auth (v4) builds its redirects and callback URLs (sign-in, sign-out, single sign-on)
 * from NEXTAUTH_URL, else http://localhost:3000. Unless the operator set it (in the
 * environment or a `.env` file Next loads), it is the console's public URL, so another
 * PORT or a public address needs no second setting. This is the value Airlock set, if any.
 */
let nextAuthUrlOurs: string | undefined;

/**
 * Start one Airlock process: the database (migrated), the MCP gateway at /mcp/*, the
 * health check, and the Next.js console for everything else, all on one port.
 */
export async function startAirlock(options: StartOptions = {}): Promise<Airlock> {
  const config = options.config ?? loadConfig();
  // a bad NEXTAUTH_SECRET stops Airlock here, not at every console request of a server that looks healthy
  configuredAuthSecret();
  for (const line of missingCommands(config)) log.warn(line);
  const ownsDatabase = !options.database;
  const database =
    options.database ??
    (await openDatabase({
      url: options.databaseUrl ?? process.env.DATABASE_URL,
      migrationUrl: options.migrationUrl ?? process.env.AIRLOCK_MIGRATION_DATABASE_URL,
      dataDir: options.dataDir ?? process.env.AIRLOCK_DATA_DIR,
    }));
  const instanceId = randomUUID();
  let ready = false;
  let requestHandler: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
  let direct: DirectRoutes | undefined;
  let gateway: Gateway | undefined;
  let realtime: Realtime | undefined;

  const trustProxy = /^(1|true)$/i.test(process.env.AIRLOCK_TRUST_PROXY ?? '');
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path === '/api/health' || path.startsWith('/api/health?')) return health(res, ready);
    if (path.startsWith('/mcp/') || path === '/mcp') {
      if (!gateway || !ready) return unavailable(res);
      return void gateway.handle(req, res);
    }
    if (!requestHandler) return unavailable(res);
    stampClientIp(req, trustProxy);
    if (direct?.(req, res)) return;
    void requestHandler(req, res).catch((error) => {
      log.error('console request failed', { error: String(error) });
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  // a held call keeps its request open for minutes: no per-request timeout
  server.requestTimeout = 0;
  // agents reuse connections: closing an idle one while a request is on its way resets it (ECONNRESET)
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  const port = options.port ?? Number(process.env.PORT ?? 3000);
  const host = options.host ?? process.env.HOST ?? '127.0.0.1';
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      // once listening, an error (EMFILE on accept, say) is logged: without a listener it would end the process
      server.on('error', (error) => log.error('http server error', { error: String(error) }));
      resolveListen();
    });
  });
  const actualPort = (server.address() as AddressInfo).port;
  const publicUrl = (options.publicUrl ?? process.env.AIRLOCK_PUBLIC_URL ?? config.publicUrl ?? `http://localhost:${actualPort}`).replace(
    /\/$/,
    '',
  );

  let closing: Promise<void> | undefined;
  // once, however many callers ask (a second signal, a test and its teardown)
  const closeAll = () =>
    (closing ??= (async () => {
      // stop accepting, end held calls and sockets, then drop the connections left (SSE, websockets)
      const closed = new Promise<void>((r) => server.close(() => r()));
      await realtime?.close();
      await gateway?.close();
      server.closeAllConnections();
      await closed;
      clearRuntime(instanceId);
      if (ownsDatabase) await database.close();
    })());

  try {
    await syncUpstreams(database, config.upstreams);
    await syncPolicy(database, config.rules);
    const created = await bootstrap(database, { demo: config.demo }).catch((error) => {
      if (isAirlockError(error) && error.code === 'conflict') return null; // another instance bootstrapped first
      throw error;
    });
    gateway = new Gateway({
      database,
      rules: () => config.rules,
      upstreams: () => config.upstreams,
      publicUrl,
      instanceId,
      sessionIdleMs: config.sessions.idleMinutes * 60_000,
      maxSessions: config.sessions.max,
      maxSessionsPerAgent: config.sessions.maxPerAgent,
      allowedHosts: (process.env.AIRLOCK_ALLOWED_HOSTS ?? '')
        .split(',')
        .map((h) => h.trim())
        .filter(Boolean),
      ...options.gateway,
    });
    await gateway.start();
    realtime = await startRealtime(server, {
      database,
      secret: () => authSecret(database),
      origins: () => [new URL(publicUrl).origin],
    });
    setRuntime({ db: database, config, instanceId, publicUrl });
    if (options.console !== false) {
      const dev = options.dev ?? process.env.AIRLOCK_DEV === '1';
      requestHandler = await startConsole(server, { dev, port: actualPort, host });
      // in development Next recompiles the route handlers on change: it serves them itself
      if (!dev) direct = await directRoutes(`http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`);
    }
    // after Next has read the .env files, which may set it; a later instance in this process replaces its own value
    if (process.env.NEXTAUTH_URL === undefined || process.env.NEXTAUTH_URL === nextAuthUrlOurs) {
      process.env.NEXTAUTH_URL = nextAuthUrlOurs = publicUrl;
    }
    ready = true;
    return {
      url: `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`,
      port: actualPort,
      database,
      gateway,
      realtime,
      instanceId,
      bootstrap: created,
      close: closeAll,
    };
  } catch (error) {
    await closeAll().catch(() => {});
    throw error;
  }
}

async function startConsole(server: Server, { dev, port, host }: { dev: boolean; port: number; host: string }) {
  const { default: next } = await import('next');
  const app = next({ dev, dir: root, port, hostname: host, httpServer: server });
  await app.prepare();
  const handle = app.getRequestHandler();
  return async (req: IncomingMessage, res: ServerResponse) => handle(req, res);
}

function health(res: ServerResponse, ready: boolean): void {
  const body = JSON.stringify(ready ? { status: 'ok' } : { status: 'starting' });
  res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
}

function unavailable(res: ServerResponse): void {
  res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end(JSON.stringify({ error: 'Airlock is starting' }));
}

function printBootstrap(airlock: Airlock): void {
  const created = airlock.bootstrap;
  if (!created) return;
  const lines = [
    '',
    'First start: Airlock created these credentials. They are shown once; keep them.',
    `  console      ${airlock.gateway.context.publicUrl}`,
    `  admin        ${created.adminEmail}`,
    `  password     ${created.adminPassword}`,
  ];
  if (created.agentToken) {
    lines.push(
      `  demo agent   ${created.agentName} (may use upstream "demo")`,
      `  agent token  ${created.agentToken}`,
      '',
      'Point an MCP client at the demo upstream, e.g. in its mcp.json:',
      JSON.stringify(
        {
          mcpServers: {
            'airlock-demo': {
              type: 'http',
              url: `${airlock.gateway.context.publicUrl}/mcp/demo`,
              headers: { Authorization: `Bearer ${created.agentToken}` },
            },
          },
        },
        null,
        2,
      ),
    );
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

async function main(): Promise<void> {
  process.env.NEXT_TELEMETRY_DISABLED ??= '1';
  const dev = process.env.AIRLOCK_DEV === '1';
  if (!dev && !existsSync(resolve(root, '.next', 'BUILD_ID'))) {
    log.info('no production build of the console yet: running `next build` once (a minute or two)');
    const { execFileSync } = await import('node:child_process');
    execFileSync(process.execPath, [resolve(root, 'node_modules/next/dist/bin/next'), 'build'], { cwd: root, stdio: 'inherit' });
  }
  const airlock = await startAirlock({ dev });
  log.info(`Airlock listening on ${airlock.url} (${airlock.database.kind}); console at ${airlock.gateway.context.publicUrl}`);
  printBootstrap(airlock);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: shutting down`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await airlock.close().catch((error) => log.error('shutdown failed', { error: String(error) }));
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main().catch((error) => {
    log.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
