/**
 * The three paths to the same echo upstream, each able to open a fresh MCP session:
 * direct stdio, mcp-proxy (stdio → Streamable HTTP, child process), and Airlock (child process).
 */
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ChildEvent, ChildRequest, MemoryFigures } from './airlock-child';
import { forkTracked, freePort, logPath, spawnTracked, stop, waitForHttp } from './procs';

const here = import.meta.dirname;
export const ECHO_SERVER = resolve(here, 'echo-server.mjs');
const MCP_PROXY_BIN = resolve(here, '../node_modules/mcp-proxy/dist/bin/mcp-proxy.mjs');

/** An MCP session of the benchmark; `close` ends it on the server too (DELETE for HTTP). */
export type Session = { client: Client; close(): Promise<void>; upstreamPid?: number; sessionId?: string };

export type Target = {
  name: string;
  /** The server process between client and upstream, if any (for CPU and memory figures). */
  pid?: number;
  /** PostgreSQL backends serving the target (their CPU is part of the cost of a call). */
  databasePids?: () => Promise<number[]>;
  connect(): Promise<Session>;
  stop(): Promise<void>;
};

function newClient(): Client {
  return new Client({ name: 'airlock-bench', version: '1.0.0' });
}

export function directTarget(): Target {
  return {
    name: 'direct stdio',
    async connect() {
      const client = newClient();
      const transport = new StdioClientTransport({ command: process.execPath, args: [ECHO_SERVER], stderr: 'ignore' });
      await client.connect(transport);
      return { client, close: () => client.close(), upstreamPid: transport.pid ?? undefined };
    },
    async stop() {},
  };
}

async function httpSession(url: string, headers: Record<string, string>): Promise<Session> {
  const client = newClient();
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  await client.connect(transport);
  return {
    client,
    sessionId: transport.sessionId,
    async close() {
      // without DELETE the server keeps the session (and, in Airlock, its upstream process)
      await transport.terminateSession().catch(() => {});
      await client.close();
    },
  };
}

export async function mcpProxyTarget(): Promise<Target> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort(); // the CLI cannot report an ephemeral port; a race here is retried
    const child = spawnTracked('mcp-proxy', process.execPath, [
      MCP_PROXY_BIN,
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--',
      process.execPath,
      ECHO_SERVER,
    ]);
    const url = `http://127.0.0.1:${port}/mcp`;
    try {
      await waitForHttp(url, child);
      return {
        name: 'mcp-proxy',
        pid: child.pid,
        connect: () => httpSession(url, {}),
        stop: () => stop(child),
      };
    } catch (error) {
      lastError = error;
      await stop(child);
    }
  }
  throw new Error(`mcp-proxy did not start (log: ${logPath('mcp-proxy')}): ${String(lastError)}`);
}

export type AirlockOptions = {
  name: string;
  /** PostgreSQL URL of a database of the benchmark's own; PGlite in memory when absent. */
  databaseUrl?: string;
  /** Serve the Next console too (the JSON API the HTTP reviewer uses). */
  console?: boolean;
};

/** A request to the Airlock child without its id (distributive over the union). */
export type ChildOp = ChildRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** Airlock in a child process, with an IPC channel for the reviewer and memory figures. */
export class AirlockTarget extends EventEmitter implements Target {
  readonly name: string;
  pid?: number;
  databasePids?: () => Promise<number[]>;
  url = '';
  /** Where the console and its JSON API are served. */
  origin = '';
  agentToken = '';
  apiToken = '';
  private child?: ChildProcess;
  private seq = 0;
  private readonly replies = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(private readonly options: AirlockOptions) {
    super();
    this.name = options.name;
  }

  async start(): Promise<void> {
    const execArgv = ['--import', 'tsx', '--expose-gc'];
    const env: Record<string, string> = {
      AIRLOCK_LOG_LEVEL: process.env.AIRLOCK_LOG_LEVEL ?? 'warn',
      BENCH_DATABASE_URL: this.options.databaseUrl ?? '',
      BENCH_CONSOLE: this.options.console ? '1' : '',
      DATABASE_URL: '',
      NEXT_TELEMETRY_DISABLED: '1',
    };
    const child = forkTracked(slug(this.name), resolve(here, 'airlock-child.ts'), execArgv, env);
    this.child = child;
    this.pid = child.pid;
    const ready = new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not start in 60 s (log: ${logPath(slug(this.name))})`)), 60_000);
      child.on('message', (message: ChildEvent | { re: number; ok: boolean; result?: unknown; error?: string }) => {
        if ('re' in message) {
          const waiter = this.replies.get(message.re);
          this.replies.delete(message.re);
          if (message.ok) waiter?.resolve(message.result);
          else waiter?.reject(new Error(message.error));
          return;
        }
        if (message.event === 'ready') {
          clearTimeout(timer);
          this.url = `${message.url}/mcp/echo`;
          this.origin = message.url;
          this.agentToken = message.agentToken;
          this.apiToken = message.apiToken;
          resolveReady();
        } else if (message.event === 'failed') {
          clearTimeout(timer);
          reject(new Error(`${this.name} failed to start: ${message.error}`));
        } else if (message.event === 'notify') {
          this.emit('notify', message.payload, message.at);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited with code ${code} (log: ${logPath(slug(this.name))})`));
        for (const waiter of this.replies.values()) waiter.reject(new Error(`${this.name} exited`));
        this.replies.clear();
      });
    });
    await ready;
  }

  request<T>(op: ChildOp): Promise<T> {
    const child = this.child;
    if (!child?.connected) return Promise.reject(new Error(`${this.name} is not running`));
    const id = ++this.seq;
    return new Promise<T>((resolveReply, reject) => {
      this.replies.set(id, { resolve: resolveReply as (v: unknown) => void, reject });
      child.send({ ...op, id });
    });
  }

  memory(): Promise<MemoryFigures> {
    return this.request<MemoryFigures>({ op: 'memory', gc: true });
  }

  connect(): Promise<Session> {
    return httpSession(this.url, { Authorization: `Bearer ${this.agentToken}` });
  }

  /** The same Airlock in front of `echo-shared`: one echo server for every session (`shared: true`). */
  sharedUpstream(): Target {
    return {
      name: `${this.name}, shared upstream`,
      pid: this.pid,
      databasePids: this.databasePids,
      connect: () => httpSession(`${this.origin}/mcp/echo-shared`, { Authorization: `Bearer ${this.agentToken}` }),
      stop: async () => {},
    };
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    // a clean exit writes the CPU profile; the group is killed if it takes too long
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    await Promise.race([this.request({ op: 'close' }).catch(() => {}), exited]);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    await stop(child, 1000);
  }
}

export function slug(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}
