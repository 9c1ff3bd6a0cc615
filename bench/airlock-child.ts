/**
 * One Airlock process for the benchmark, started by bench/run.ts with `fork` (IPC channel):
 *
 *   node --import tsx --expose-gc [--cpu-prof] bench/airlock-child.ts
 *
 * It serves the gateway (and with BENCH_CONSOLE=1 the Next console and its JSON API) with
 * the echo upstream and the benchmark's policy, on an ephemeral port, on PGlite in a temporary directory on disk (as
 * Airlock runs by default) or on BENCH_DATABASE_URL. It answers a few IPC requests from the parent: the reviewer's operations (list pending requests,
 * decide) for the IPC reviewer, the NOTIFY events of `airlock_approvals` (a stand-in for
 * the socket.io feed), its own memory figures and CPU profiles of one phase, and for the
 * console phase a reviewer with a password and thousands of seeded pending requests.
 * Nothing here is added to server/: the gateway runs exactly as `startAirlock` builds it.
 */

import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session as InspectorSession } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { count, eq } from 'drizzle-orm';
import { openDatabase } from '../db/client';
import type { Database } from '../db/database';
import { approvalRequests } from '../db/schema';
import { decide } from '../server/approvals/decide';
import { listRequests } from '../server/approvals/queries';
import { APPROVALS_CHANNEL } from '../server/approvals/types';
import { appendAudit } from '../server/audit/append';
import { createAgent } from '../server/auth/agents';
import { createApiToken } from '../server/auth/api-tokens';
import { createUser } from '../server/auth/users';
import { DEMO_ADMIN } from '../server/bootstrap';
import { parseConfig } from '../server/config/load';
import { startAirlock } from '../server/index';
import { digest } from '../server/lib/digest';

/** Messages from the parent; each gets one reply `{ re: id, ok, result | error }`. */
export type ChildRequest =
  | { id: number; op: 'list'; limit?: number }
  | { id: number; op: 'decide'; requestId: string; decision: 'approve' | 'deny' }
  | { id: number; op: 'countPending' }
  | { id: number; op: 'pendingBySession' }
  | { id: number; op: 'subscribe' }
  | { id: number; op: 'seed'; count: number }
  | { id: number; op: 'consoleUser' }
  | { id: number; op: 'memory'; gc?: boolean }
  | { id: number; op: 'loopDelay' }
  | { id: number; op: 'profileStart' }
  | { id: number; op: 'profileStop'; file: string }
  | { id: number; op: 'close' };

/** Unsolicited messages to the parent. */
export type ChildEvent =
  | { event: 'ready'; url: string; agentToken: string; reviewerId: string; apiToken: string; database: string; pid: number }
  | { event: 'notify'; payload: string; at: number }
  | { event: 'failed'; error: string };

export type LoopDelay = { p50: number; p99: number; max: number };
export type SeedResult = { seeded: number; batches: number; ms: number };
/** A reviewer who signs in to the console with a password (the console phase's browser). */
export type ConsoleUser = { email: string; password: string };
export type MemoryFigures = { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number; fds: number };

const send = (message: unknown) => process.send?.(message);
const profiler = new InspectorSession();
profiler.connect();
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const echoServer = resolve(import.meta.dirname, 'echo-server.mjs');

async function main(): Promise<void> {
  const url = process.env.BENCH_DATABASE_URL;
  // PGlite on disk, as Airlock runs by default (./.airlock), in a directory removed at exit
  const dataDir = url ? undefined : mkdtempSync(join(tmpdir(), 'airlock-bench-pglite-'));
  const database = await openDatabase(url ? { url } : { dataDir });
  const config = parseConfig({
    demo: false,
    upstreams: {
      // one echo server per MCP session (the default), and one for all sessions (as mcp-proxy runs it)
      echo: { transport: 'stdio', command: process.execPath, args: [echoServer] },
      'echo-shared': { transport: 'stdio', command: process.execPath, args: [echoServer], shared: true },
    },
    rules: [
      { id: 'bench-echo', tool: 'echo', action: 'allow' },
      // held calls: long timeout so a slow machine never expires one mid-benchmark
      { id: 'bench-echo-risky', tool: 'echo_risky', action: 'require_approval', timeoutSeconds: 3600 },
    ],
    // one agent opens every session of the benchmark: 64 at once in the throughput phase
    sessions: { maxPerAgent: 500 },
  });
  // BENCH_CONSOLE=1: serve the Next console too, for the HTTP reviewer and the console phase (needs a production build)
  const airlock = await startAirlock({ config, database, port: 0, host: '127.0.0.1', console: process.env.BENCH_CONSOLE === '1' });
  const reviewer = await createUser(database, { email: 'reviewer@bench.local', role: 'approver', name: 'Bench reviewer' });
  const { token: agentToken } = await createAgent(database, { name: 'bench-agent', ownerEmail: DEMO_ADMIN });
  // the HTTP reviewer's personal API token (bench/reviewer.ts, HttpReviewer)
  const { token: apiToken } = await createApiToken(database, { userEmail: 'reviewer@bench.local', name: 'bench' });

  let unlisten: (() => Promise<void>) | undefined;
  let consoleUser: Promise<ConsoleUser> | undefined;
  let closing = false;
  const close = async (code: number) => {
    if (closing) return;
    closing = true;
    const force = setTimeout(() => process.exit(code || 1), 10_000);
    force.unref();
    await unlisten?.().catch(() => {});
    await airlock.close().catch(() => {});
    await database.close().catch(() => {});
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    process.exit(code); // writes the --cpu-prof profile
  };
  process.on('SIGTERM', () => void close(0));
  process.on('disconnect', () => void close(0)); // the parent is gone

  process.on('message', async (message: ChildRequest) => {
    try {
      const result = await handle(message);
      send({ re: message.id, ok: true, result });
      if (message.op === 'close') await close(0);
    } catch (error) {
      send({ re: message.id, ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  });

  async function handle(message: ChildRequest): Promise<unknown> {
    switch (message.op) {
      // ─── the reviewer's API, in-process (what GET /api/approvals?status=pending will call) ───
      case 'list': {
        const { items } = await listRequests(database.orm, { status: 'pending', limit: message.limit ?? 100 });
        return items.map((item) => ({ id: item.id, arguments: item.arguments, createdAt: item.createdAt.getTime() }));
      }
      // ─── what POST /api/approvals/:id/decision will call ───
      case 'decide': {
        const result = await decide(database, { requestId: message.requestId, user: { id: reviewer.id }, decision: message.decision });
        return { status: result.request.status, final: result.final };
      }
      case 'countPending': {
        const [{ n }] = await database.orm.select({ n: count() }).from(approvalRequests).where(eq(approvalRequests.status, 'pending'));
        return n;
      }
      case 'pendingBySession': {
        const rows = await database.orm
          .select({ sessionId: approvalRequests.sessionId, n: count() })
          .from(approvalRequests)
          .where(eq(approvalRequests.status, 'pending'))
          .groupBy(approvalRequests.sessionId);
        return Object.fromEntries(rows.map((r) => [r.sessionId, r.n]));
      }
      case 'seed':
        return seed(database, message.count);
      case 'consoleUser':
        consoleUser ??= createUser(database, {
          email: CONSOLE_USER.email,
          password: CONSOLE_USER.password,
          role: 'approver',
          name: 'Bench console reviewer',
        }).then(() => CONSOLE_USER);
        return consoleUser;
      case 'subscribe':
        // what the realtime module (socket.io) will relay to a reviewer's browser
        unlisten ??= await database.listen(APPROVALS_CHANNEL, (payload) =>
          send({ event: 'notify', payload, at: performance.timeOrigin + performance.now() }),
        );
        return true;
      case 'memory':
        return memory(message.gc ?? true);
      // how long the event loop was kept from turning since the last ask (then reset)
      case 'loopDelay': {
        const figures = { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 };
        loop.reset();
        return figures;
      }
      // a V8 CPU profile of exactly one phase (what --cpu-prof gives for the whole life)
      case 'profileStart':
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.setSamplingInterval', { interval: 250 });
        await profiler.post('Profiler.start');
        return true;
      case 'profileStop': {
        const { profile } = (await profiler.post('Profiler.stop')) as { profile: unknown };
        mkdirSync(dirname(message.file), { recursive: true });
        writeFileSync(message.file, JSON.stringify(profile));
        return message.file;
      }
      case 'close':
        return true;
    }
  }

  send({ event: 'ready', url: airlock.url, agentToken, reviewerId: reviewer.id, apiToken, database: database.kind, pid: process.pid });
}

const CONSOLE_USER: ConsoleUser = { email: 'console@bench.local', password: 'correct horse battery staple' };
const SEED_BATCH = 2000;

/**
 * `count` pending approval requests for the console phase, inserted directly in multi-row
 * INSERTs (createRequest one by one would take minutes), each batch with ONE audit event
 * `bench.seeded` through appendAudit, so the hash chain stays whole. They belong to an agent
 * of their own, no gateway session holds them (a decision would find no waiter), they are
 * older than any call made afterwards and expire in 2 h: later than a call held now by the
 * 1 h rule, so under "least time left" a new call sorts first.
 */
async function seed(database: Database, total: number): Promise<SeedResult> {
  const t0 = performance.now();
  const name = `bench-seeded-${randomUUID().slice(0, 8)}`;
  const { agent } = await createAgent(database, { name, ownerEmail: DEMO_ADMIN });
  const toolDefinition = {
    name: 'echo_risky',
    description: 'Return the message unchanged (needs approval in the benchmark)',
    inputSchema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
  };
  const toolDefinitionHash = digest(toolDefinition);
  const sessionId = `bench-seed-${randomUUID()}`;
  const now = Date.now();
  const rule = { id: 'bench-echo-risky', timeoutSeconds: 7200, allowEdit: false, maxGrantMinutes: 0 };
  let batches = 0;
  for (let start = 0; start < total; start += SEED_BATCH) {
    const rows = Array.from({ length: Math.min(SEED_BATCH, total - start) }, (_, k) => {
      const i = start + k;
      const args = { message: `seeded-${i}` };
      return {
        id: randomUUID(),
        status: 'pending' as const,
        agentId: agent.id,
        sessionId,
        rpcId: String(i),
        upstream: 'echo',
        tool: 'echo_risky',
        arguments: args,
        argumentsDigest: digest(args),
        toolDefinition,
        toolDefinitionHash,
        rule,
        approverRoles: ['approver'],
        requiredApprovals: 1,
        riskLevel: 'low' as const,
        riskFlags: [],
        // 10 ms apart, all in the past: the queue's oldest-first order is the seeding order
        createdAt: new Date(now - (total - i) * 10),
        expiresAt: new Date(now + 7200_000 + i),
        holder: 'bench-seed',
      };
    });
    await database.orm.transaction(async (tx) => {
      await tx.insert(approvalRequests).values(rows);
      await appendAudit(tx, {
        type: 'bench.seeded',
        actor: { type: 'system', id: 'bench' },
        payload: {
          reason: 'benchmark (npm run bench, console phase): pending approval requests inserted directly, no call behind them',
          count: rows.length,
          agentId: agent.id,
          sessionId,
          firstId: rows[0].id,
          lastId: rows[rows.length - 1].id,
        },
      });
    });
    batches++;
  }
  return { seeded: total, batches, ms: performance.now() - t0 };
}

/** RSS from /proc after a forced settle (several full GCs), plus V8's own figures. */
async function memory(settle: boolean): Promise<MemoryFigures> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (settle && gc) {
    for (let i = 0; i < 4; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const status = readFileSync('/proc/self/status', 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const usage = process.memoryUsage();
  const fds = readdirSync('/proc/self/fd').length;
  return {
    rss: rssKb * 1024,
    heapUsed: usage.heapUsed,
    heapTotal: usage.heapTotal,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    fds,
  };
}

main().catch((error) => {
  send({ event: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
