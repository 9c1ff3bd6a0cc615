import type { IncomingMessage, ServerResponse } from 'node:http';
import { eq, ne } from 'drizzle-orm';
import type { Database } from '../../db/database';
import { approvalRequests, upstreams } from '../../db/schema';
import { cancelHeldBy, expireOverdue } from '../approvals/lifecycle';
import { appendAudit } from '../audit/append';
import { AuditWriter } from '../audit/writer';
import { AGENTS_CHANNEL, type Agent, activeAgentIds, authenticateAgent } from '../auth/agents';
import type { UpstreamConfig } from '../config/schema';
import { digest, hashToken } from '../lib/digest';
import { AirlockError, isAirlockError } from '../lib/errors';
import { log } from '../lib/log';
import type { Rule } from '../policy/types';
import type { GatewayContext } from './context';
import { HoldRegistry } from './holds';
import { InstanceLease } from './instances';
import { ErrorCode, sendJsonRpcError } from './messages';
import { GatewaySession } from './session';
import { SharedUpstreams } from './shared-upstream';
import { detectDeathSignal } from './upstream';

export type GatewayOptions = {
  database: Database;
  rules: () => readonly Rule[];
  upstreams: () => Readonly<Record<string, UpstreamConfig>>;
  publicUrl: string;
  instanceId: string;
  /** Largest request body accepted on /mcp (bytes, default 1 MiB). */
  maxBodyBytes?: number;
  /** Extra Host names accepted besides loopback and the public URL's (DNS rebinding protection). */
  allowedHosts?: string[];
  /** Close sessions idle this long with nothing in flight (ms, default 30 min). */
  sessionIdleMs?: number;
  /** Most concurrent sessions per process (each may run an upstream process). */
  maxSessions?: number;
  /** Most concurrent sessions of one agent in this process. */
  maxSessionsPerAgent?: number;
  progressIntervalMs?: number;
  /** How long a POST's SSE headers wait for its first event before they are sent alone (ms, default 50). */
  headersWaitMs?: number;
  recheckMs?: number;
  /** How often this process renews its lease on PostgreSQL (ms, default 5 s; see InstanceLease). */
  heartbeatMs?: number;
};

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * The MCP gateway: serves each configured upstream at `/mcp/<upstream>` over Streamable
 * HTTP, authenticates agents, and runs one GatewaySession per MCP session.
 */
export class Gateway {
  readonly context: GatewayContext;
  private readonly sessions = new Map<string, GatewaySession>();
  private readonly agents: AgentCache;
  private unlistenAgents?: () => Promise<void>;
  private readonly options: Required<Omit<GatewayOptions, 'allowedHosts'>> & { allowedHosts: Set<string> };
  private sweepTimer?: NodeJS.Timeout;
  private lease?: InstanceLease;

  constructor(options: GatewayOptions) {
    const publicHost = new URL(options.publicUrl).host.toLowerCase();
    this.options = {
      maxBodyBytes: 1024 * 1024,
      sessionIdleMs: 30 * 60_000,
      maxSessions: 500,
      maxSessionsPerAgent: 50,
      progressIntervalMs: 10_000,
      headersWaitMs: 50,
      recheckMs: 2_000,
      heartbeatMs: 5_000,
      ...options,
      allowedHosts: new Set([publicHost, ...(options.allowedHosts ?? []).map((h) => h.toLowerCase())]),
    };
    this.agents = new AgentCache(options.database);
    this.context = {
      database: options.database,
      audit: new AuditWriter(options.database),
      holds: new HoldRegistry(options.database, { recheckMs: this.options.recheckMs }),
      rules: options.rules,
      upstreams: options.upstreams,
      shared: new SharedUpstreams(),
      publicUrl: options.publicUrl.replace(/\/$/, ''),
      instanceId: options.instanceId,
      progressIntervalMs: this.options.progressIntervalMs,
      headersWaitMs: this.options.headersWaitMs,
      recordTools: (upstream, tools) => void this.recordTools(upstream, tools),
    };
  }

  async start(): Promise<void> {
    await detectDeathSignal();
    await this.context.holds.start();
    // a revoked agent (or one whose owner was disabled) is forgotten and its sessions closed, in every process
    this.unlistenAgents = await this.context.database.listen(
      AGENTS_CHANNEL,
      (agentId) => this.stopSessionsOf(agentId),
      // revocations announced while the subscription was down are lost: ask the database which agents still stand
      () => void this.recheckSessions(),
    );
    if (this.context.database.kind === 'pglite') await this.cancelOrphans();
    else {
      // several processes may share PostgreSQL: each keeps a lease, and cancels the calls of any whose lease lapses
      this.lease = new InstanceLease(this.context.database, this.context.instanceId, { heartbeatMs: this.options.heartbeatMs });
      await this.lease.start();
    }
    // every 30 s, or more often when sessions may only idle briefly (closed within 1.5 × their idle time)
    const sweepMs = Math.min(30_000, Math.max(1_000, Math.floor(this.options.sessionIdleMs / 2)));
    this.sweepTimer = setInterval(() => void this.sweep(), sweepMs);
    this.sweepTimer.unref();
  }

  private stopSessionsOf(agentId: string): void {
    this.agents.forget(agentId);
    for (const session of this.sessions.values())
      if (session.agent.id === agentId) void session.close('the agent was revoked or its owner disabled');
  }

  /** Close the sessions of every agent revoked (or whose owner was disabled) since they opened. */
  private async recheckSessions(): Promise<void> {
    try {
      // identities cached meanwhile may be of agents revoked in the gap: read again at the next request
      this.agents.clear();
      const ids = [...new Set([...this.sessions.values()].map((session) => session.agent.id))];
      const active = await activeAgentIds(this.context.database.orm, ids);
      for (const id of ids) if (!active.has(id)) this.stopSessionsOf(id);
    } catch (error) {
      log.warn('gateway: could not re-check the agents of open sessions', { error: String(error) });
    }
  }

  /**
   * PGlite serves one process, so a request still pending at start was held by a process
   * that is gone: its agent's connection is lost and it must never run.
   */
  private async cancelOrphans(): Promise<void> {
    await this.context.database.orm.transaction((tx) =>
      cancelHeldBy(
        tx,
        tx
          .selectDistinct({ holder: approvalRequests.holder })
          .from(approvalRequests)
          .where(ne(approvalRequests.holder, this.context.instanceId)),
        { reason: 'Airlock restarted while the call was held', actor: { type: 'system' } },
      ),
    );
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const session of this.sessions.values()) {
      if (!session.busy && now - session.lastActivity > this.options.sessionIdleMs) void session.close('idle');
    }
    // requests held by a process that died are expired by whoever sweeps first
    await expireOverdue(this.context.database).catch((error) => log.warn('gateway: expiry sweep failed', { error: String(error) }));
  }

  private readonly toolHashes = new Map<string, string>();

  /** Keep the upstream's latest tool list in the database; a change of list is an audit event. */
  private async recordTools(upstream: string, tools: unknown[]): Promise<void> {
    let hash: string;
    try {
      hash = digest(tools);
    } catch (error) {
      // a list the upstream sent with (say) a lone surrogate: relayed as it is, not stored; its tools cannot be held
      return log.warn('gateway: tool list not recorded', { upstream, error: String(error) });
    }
    if (this.toolHashes.get(upstream) === hash) return;
    this.toolHashes.set(upstream, hash);
    try {
      await this.context.database.orm.transaction(async (tx) => {
        const [row] = await tx.select({ toolsHash: upstreams.toolsHash }).from(upstreams).where(eq(upstreams.name, upstream)).for('update');
        if (!row || row.toolsHash === hash) return;
        await tx.update(upstreams).set({ tools, toolsHash: hash, toolsListedAt: new Date() }).where(eq(upstreams.name, upstream));
        const names = (list: unknown) => (Array.isArray(list) ? list.map((t) => (t as { name?: string }).name) : []);
        await appendAudit(tx, {
          type: row.toolsHash ? 'upstream.tools_changed' : 'upstream.tools_listed',
          actor: { type: 'system', id: 'gateway' },
          payload: { upstream, toolsHash: hash, previousHash: row.toolsHash, tools: names(tools) },
        });
      });
    } catch (error) {
      this.toolHashes.delete(upstream);
      log.warn('gateway: could not record the tool list', { upstream, error: String(error) });
    }
  }

  /** Handle a request under /mcp/. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.route(req, res);
    } catch (error) {
      log.error('gateway: request failed', { error: String(error) });
      if (!res.headersSent) sendJsonRpcError(res, 500, ErrorCode.InternalError, 'internal error');
      else res.end();
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const match = /^\/mcp\/([^/]+)\/?$/.exec(url.pathname);
    if (!match) return sendJsonRpcError(res, 404, -32001, 'not found: MCP endpoints are /mcp/<upstream>');

    // DNS rebinding: a browser page must not reach the gateway through a hostile name
    const rebinding = this.checkHostAndOrigin(req);
    if (rebinding) return sendJsonRpcError(res, 403, -32000, rebinding);

    let upstreamName: string;
    try {
      upstreamName = decodeURIComponent(match[1]);
    } catch {
      return sendJsonRpcError(res, 400, -32600, 'the upstream name in the path is not valid URL encoding');
    }
    // own keys only: `constructor` or `toString` are not upstreams
    const upstreams = this.context.upstreams();
    const upstreamConfig = Object.hasOwn(upstreams, upstreamName) ? upstreams[upstreamName] : undefined;
    if (!upstreamConfig) return sendJsonRpcError(res, 404, -32001, `unknown upstream "${upstreamName.slice(0, 100)}"`);

    // authenticate before anything reaches the upstream
    const token = bearer(req.headers.authorization);
    let agent: Agent;
    try {
      agent = await this.agents.authenticate(token, upstreamName);
    } catch (error) {
      if (isAirlockError(error) && (error.code === 'unauthorized' || error.code === 'forbidden')) {
        if (error.code === 'unauthorized') res.setHeader('WWW-Authenticate', 'Bearer realm="airlock"');
        return sendJsonRpcError(res, error.status, -32001, error.message);
      }
      log.error('gateway: agent authentication failed', { error: String(error) });
      return sendJsonRpcError(res, 503, -32000, 'Airlock cannot authenticate agents right now (database unavailable)');
    }

    let body: unknown;
    if (req.method === 'POST') {
      const read = await readBody(req, this.options.maxBodyBytes);
      if (read.tooLarge) return sendJsonRpcError(res, 413, -32600, `request body exceeds ${this.options.maxBodyBytes} bytes`);
      try {
        body = JSON.parse(read.text);
      } catch {
        return sendJsonRpcError(res, 400, -32700, 'Parse error: the body is not valid JSON');
      }
    }

    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const session = this.sessions.get(sessionId);
      // another agent's session id, or another upstream's, is as good as unknown
      if (!session || session.agent.id !== agent.id || session.upstreamName !== upstreamName) {
        return sendJsonRpcError(res, 404, -32001, 'Session not found');
      }
      session.lastActivity = Date.now();
      return session.downstream.handleRequest(req, res, body);
    }

    if (req.method !== 'POST' || !isInitialize(body)) {
      return sendJsonRpcError(res, 400, -32000, 'Bad Request: no Mcp-Session-Id header; start with an initialize request');
    }
    if (this.sessions.size >= this.options.maxSessions) {
      return sendJsonRpcError(res, 503, -32000, 'too many MCP sessions on this Airlock instance; try again later');
    }
    let open = 0;
    for (const session of this.sessions.values()) if (session.agent.id === agent.id) open += 1;
    if (open >= this.options.maxSessionsPerAgent) {
      const limit = this.options.maxSessionsPerAgent;
      return sendJsonRpcError(
        res,
        429,
        -32000,
        `agent ${agent.name} has ${open} MCP sessions open on this Airlock instance, the most allowed (sessions.maxPerAgent: ${limit}): end one (DELETE) or let an idle one close`,
      );
    }
    const session = new GatewaySession({
      context: this.context,
      agent: { id: agent.id, name: agent.name, ownerId: agent.ownerId },
      upstreamName,
      upstreamConfig,
      // registered as soon as the id exists: the client may use it before this response ends
      onInitialized: (id, opened) => this.sessions.set(id, opened),
      onClosed: (closed) => {
        if (closed.sessionId) this.sessions.delete(closed.sessionId);
      },
    });
    await session.downstream.handleRequest(req, res, body);
    if (!session.sessionId) void session.close('initialization failed');
  }

  private checkHostAndOrigin(req: IncomingMessage): string | null {
    const host = (req.headers.host ?? '').toLowerCase();
    if (!this.hostAllowed(host)) return `Host "${host}" is not allowed (set AIRLOCK_ALLOWED_HOSTS or AIRLOCK_PUBLIC_URL)`;
    const origin = req.headers.origin;
    if (origin === undefined || origin === 'null') return origin === 'null' ? 'Origin "null" is not allowed' : null;
    let originHost: string;
    try {
      originHost = new URL(origin).host.toLowerCase();
    } catch {
      return `Origin "${origin}" is not a URL`;
    }
    return this.hostAllowed(originHost) ? null : `Origin "${origin}" is not allowed`;
  }

  private hostAllowed(host: string): boolean {
    if (this.options.allowedHosts.has(host)) return true;
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
    return LOOPBACK.has(name) || this.options.allowedHosts.has(name);
  }

  /** The open MCP session with this id in this process, if any. */
  session(sessionId: string): GatewaySession | undefined {
    return this.sessions.get(sessionId);
  }

  /** Close every session (held calls are cancelled) and stop background work. */
  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.unlistenAgents?.();
    await Promise.allSettled([...this.sessions.values()].map((session) => session.close('Airlock is shutting down')));
    await this.lease?.stop();
    await this.context.shared.close();
    await this.context.holds.close();
    await this.context.audit.close();
  }
}

function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

function isInitialize(body: unknown): boolean {
  const messages = Array.isArray(body) ? body : [body];
  return messages.some((m) => typeof m === 'object' && m !== null && (m as { method?: unknown }).method === 'initialize');
}

/** Read a request body up to a limit; beyond it, stop reading and report. */
function readBody(req: IncomingMessage, limit: number): Promise<{ text: string; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      return resolve({ text: '', tooLarge: true });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve({ text: tooLarge ? '' : Buffer.concat(chunks).toString('utf8'), tooLarge }));
    req.on('error', reject);
  });
}

/**
 * Agent identities by token, for a few seconds: every MCP request authenticates, and a
 * database round trip each time would dominate an allowed call. A revocation NOTIFY
 * (AGENTS_CHANNEL) evicts at once in every process; the TTL bounds a lost notification.
 * Unknown tokens are not cached, so a revoked or wrong token always reaches the database.
 */
class AgentCache {
  private readonly entries = new Map<string, { agent: Agent; until: number }>();
  private static readonly TTL_MS = 5_000;
  private static readonly MAX = 10_000;

  constructor(private readonly database: Database) {}

  async authenticate(token: string | undefined, upstream: string): Promise<Agent> {
    const key = token ? hashToken(token) : '';
    const hit = key ? this.entries.get(key) : undefined;
    const agent = hit && hit.until > Date.now() ? hit.agent : await this.load(key, token);
    // the upstream restriction is checked on every request, cached or not
    if (agent.upstreams.length > 0 && !agent.upstreams.includes(upstream)) {
      throw new AirlockError('forbidden', `agent ${agent.name} may not use upstream ${upstream}`);
    }
    return agent;
  }

  private async load(key: string, token: string | undefined): Promise<Agent> {
    const started = this.generation;
    const agent = await authenticateAgent(this.database, { token });
    // a revocation heard while this lookup ran may postdate what it read: use it once, cache nothing
    if (this.generation !== started) return agent;
    if (this.entries.size >= AgentCache.MAX) this.entries.clear();
    this.entries.set(key, { agent, until: Date.now() + AgentCache.TTL_MS });
    return agent;
  }

  private generation = 0;

  clear(): void {
    this.generation += 1;
    this.entries.clear();
  }

  forget(agentId: string): void {
    this.generation += 1;
    for (const [key, entry] of this.entries) if (entry.agent.id === agentId) this.entries.delete(key);
  }
}
