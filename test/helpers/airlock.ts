import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { and, eq } from 'drizzle-orm';
import { approvalRequests, users } from '../../db/schema';
import type { ApprovalRequest } from '../../server/approvals/types';
import { createAgent } from '../../server/auth/agents';
import { createApiToken } from '../../server/auth/api-tokens';
import { createUser } from '../../server/auth/users';
import { parseConfig } from '../../server/config/load';
import type { ConfigInput } from '../../server/config/schema';
import { type Airlock, type StartOptions, startAirlock } from '../../server/index';
import { ensureConsoleBuild } from './console-build';
import { type Backend, openTestDatabase, type TestDatabase } from './db';

export const root = resolve(import.meta.dirname, '../..');
export const fixtureServer = resolve(root, 'test/fixtures/tools-server.ts');

/** The fixture upstream over stdio, logging its executions to `logFile`. */
export function fixtureUpstream(logFile: string) {
  return {
    transport: 'stdio' as const,
    command: process.execPath,
    args: ['--import', 'tsx', fixtureServer],
    env: { FIXTURE_LOG: logFile },
  };
}

export type Person = { id: string; email: string; token: string };

export type TestAirlock = {
  airlock: Airlock;
  t: TestDatabase;
  url: string;
  dir: string;
  /** Executions the fixture upstream recorded (its FIXTURE_LOG). */
  executions(): { event: string; tool?: string; args?: unknown; pid: number }[];
  logFile: string;
  /** A user with a personal API token. */
  person(role: 'admin' | 'approver' | 'auditor', email?: string): Promise<Person>;
  /** An agent owned by `owner`, and its token. */
  agent(owner: string, name?: string, upstreams?: string[]): Promise<string>;
  /** An MCP client connected through Airlock. */
  connect(token: string, upstream?: string): Promise<Client>;
  /** The pending approval request of a tool or of an MCP session, once the call is held. */
  pending(where: { tool: string } | { sessionId: string }): Promise<ApprovalRequest>;
  close(): Promise<void>;
};

let counter = 0;

/** The objects of a JSON-lines file, such as a fixture upstream's log; [] until it exists. */
export function readJsonLines<T = Record<string, unknown>>(file: string): T[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as T);
  } catch {
    return [];
  }
}

/** A tool result as the tests read it. */
export type CallResult = { content: { type: string; text?: string }[]; isError?: boolean; _meta?: Record<string, unknown> };

/** The text blocks of a tool result, one per line. */
export const callText = (result: unknown) => (result as CallResult).content.map((c) => c.text ?? '').join('\n');

/** Start Airlock on a fresh database of `backend`, with the fixture upstream as `fixture`. */
export async function startTestAirlock(
  backend: Backend,
  config: ConfigInput = {},
  options: Omit<StartOptions, 'config' | 'database'> = {},
): Promise<TestAirlock> {
  if (options.console) ensureConsoleBuild();
  const dir = mkdtempSync(join(tmpdir(), 'airlock-test-'));
  const logFile = join(dir, 'executions.jsonl');
  const t = await openTestDatabase(backend);
  const parsed = parseConfig({ demo: false, ...config, upstreams: { fixture: fixtureUpstream(logFile), ...config.upstreams } });
  const airlock = await startAirlock({
    config: parsed,
    database: t.database,
    port: 0,
    console: false,
    ...options,
    gateway: { progressIntervalMs: 200, recheckMs: 500, ...options.gateway },
  });
  const clients: Client[] = [];
  const db = t.database;
  return {
    airlock,
    t,
    url: airlock.url,
    dir,
    logFile,
    executions() {
      return readJsonLines(logFile);
    },
    async person(role, email = `${role}-${++counter}@example.com`) {
      await createUser(db, { email, role, password: 'correct horse battery staple' });
      const [row] = await db.orm.select().from(users).where(eq(users.email, email));
      const { token } = await createApiToken(db, { userEmail: email, name: 'test' });
      return { id: row.id, email, token };
    },
    async agent(owner, name = `agent-${++counter}`, upstreams = []) {
      const { token } = await createAgent(db, { name, ownerEmail: owner, upstreams });
      return token;
    },
    pending(where) {
      const match = 'tool' in where ? eq(approvalRequests.tool, where.tool) : eq(approvalRequests.sessionId, where.sessionId);
      return eventually(async () => {
        const [row] = await db.orm
          .select()
          .from(approvalRequests)
          .where(and(match, eq(approvalRequests.status, 'pending')));
        return row;
      });
    },
    async connect(token, upstream = 'fixture') {
      const client = new Client({ name: 'test-agent', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`${airlock.url}/mcp/${upstream}`), {
          requestInit: { headers: { Authorization: `Bearer ${token}` } },
        }),
      );
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.allSettled(clients.map((c) => c.close()));
      await airlock.close();
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Poll until `check` returns a value other than undefined/false, or fail after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
