import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamConfig } from '../config/schema';
import { log } from '../lib/log';
import {
  ErrorCode,
  errorResponse,
  isNotification,
  isRequest,
  isResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  progressToken,
  type RequestId,
  resultResponse,
} from './messages';
import { upstreamTransport } from './upstream';

/** How long Airlock's own requests (initialize, unsubscribe) may take. */
const INTERNAL_TIMEOUT_MS = 30_000;
/** How long the answer to a request its agent cancelled is still routed (servers should not send one). */
const CANCELLED_GRACE_MS = 60_000;

/** Requests an agent cannot make through a shared upstream, and why. */
const NOT_SHARED = 'is not available through a shared upstream';

/** A session's request in flight upstream; `token` is the progress token sent up for its own `originalToken`. */
type Route = { channel: SharedChannel; id: RequestId; token?: string; originalToken?: string | number; subscribes?: string };

/**
 * One connection to an upstream marked `shared: true`, serving every agent session of this
 * process that uses it (by default each session gets its own: see `upstream.ts`).
 *
 * Airlock initializes the upstream itself, with no client capabilities: a shared server has
 * no one client to send sampling, elicitation or roots requests to, so it is told it cannot,
 * and any such request it sends anyway is refused here and reaches no agent. Each session
 * talks to it through a `SharedChannel`, which rewrites request ids and progress tokens so
 * answers and progress go back to the session that asked. List changes go to every session,
 * resource updates to the sessions subscribed to the resource, log messages to none (they
 * cannot be attributed to a session); tasks are refused (their ids would be visible across
 * sessions). If the upstream goes away, only the requests in flight fail: the sessions stay,
 * and the next request connects again.
 */
export class SharedUpstream {
  private transport: Transport | undefined;
  private ready: Promise<Record<string, unknown>> | undefined;
  private readonly channels = new Set<SharedChannel>();
  /** Upstream request id → the session request it stands for. */
  private readonly routes = new Map<string, Route>();
  /** Progress token sent upstream → the route it belongs to. */
  private readonly tokens = new Map<string, Route>();
  /** Resource URI → the sessions subscribed to it. */
  private readonly subscriptions = new Map<string, Set<SharedChannel>>();
  /** Airlock's own requests (initialize, a last unsubscribe). */
  private readonly internal = new Map<string, { resolve: (message: JSONRPCMessage) => void; timer: NodeJS.Timeout }>();
  private seq = 0;

  constructor(
    readonly name: string,
    readonly config: UpstreamConfig,
  ) {}

  /** A transport for one session; it connects (or reuses the connection) on `start()`. */
  channel(): SharedChannel {
    return new SharedChannel(this);
  }

  /** The upstream's initialize result, connecting first if no connection is up. */
  connect(): Promise<Record<string, unknown>> {
    this.ready ??= this.open().catch((error: unknown) => {
      this.ready = undefined;
      void this.transport?.close().catch(() => {});
      this.transport = undefined;
      throw error;
    });
    return this.ready;
  }

  private async open(): Promise<Record<string, unknown>> {
    const transport: Transport = upstreamTransport(this.name, this.config);
    this.transport = transport;
    transport.onmessage = (message) => {
      if (this.transport === transport) this.fromUpstream(message);
    };
    transport.onclose = () => {
      if (this.transport === transport) this.lost(`upstream ${this.name} closed`);
    };
    transport.onerror = (error) => log.debug(`gateway: shared upstream ${this.name}`, { error: error.message });
    await transport.start();
    const answer = await this.request('initialize', {
      protocolVersion: LATEST_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'airlock', version: '0.1.0' },
    });
    if (!('result' in answer)) throw new Error(`initialize failed: ${JSON.stringify((answer as { error?: unknown }).error)}`);
    const result = answer.result as Record<string, unknown>;
    const version = result.protocolVersion;
    if (typeof version !== 'string' || !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      throw new Error(`unsupported protocol version ${JSON.stringify(version)}`);
    }
    (transport as Transport).setProtocolVersion?.(version);
    await transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return result;
  }

  /** A request of Airlock's own, answered outside the routes. */
  private request(method: string, params: Record<string, unknown>): Promise<JSONRPCMessage> {
    const id = `airlock-${++this.seq}`;
    const transport = this.transport;
    if (!transport) return Promise.reject(new Error(`upstream ${this.name} is not connected`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.internal.delete(id);
        reject(new Error(`${method} got no answer within ${INTERNAL_TIMEOUT_MS / 1000} s`));
      }, INTERNAL_TIMEOUT_MS);
      this.internal.set(id, { resolve, timer });
      transport.send({ jsonrpc: '2.0', id, method, params } as JSONRPCRequest).catch((error: Error) => {
        clearTimeout(timer);
        this.internal.delete(id);
        reject(error);
      });
    });
  }

  // ─── session → upstream ───────────────────────────────────────────────────

  attach(channel: SharedChannel): void {
    this.channels.add(channel);
  }

  async fromChannel(channel: SharedChannel, message: JSONRPCMessage): Promise<void> {
    if (isRequest(message)) return this.requestFrom(channel, message);
    if (!isNotification(message) || message.method !== 'notifications/cancelled') return; // initialized, roots, answers: Airlock's own business
    const params = message.params as { requestId?: RequestId; reason?: string } | undefined;
    const upstreamId = params?.requestId === undefined ? undefined : channel.pending.get(key(params.requestId));
    if (!upstreamId || !this.transport) return;
    // a late answer is still routed (and audited by the session) for a while, then forgotten
    setTimeout(() => this.unroute(upstreamId), CANCELLED_GRACE_MS).unref();
    await this.send({ ...message, params: { ...params, requestId: upstreamId } });
  }

  private async requestFrom(channel: SharedChannel, request: JSONRPCRequest): Promise<void> {
    const params = request.params as Record<string, unknown> | undefined;
    switch (request.method) {
      case 'initialize': {
        const result = await this.connect();
        const requested = params?.protocolVersion;
        const { tasks: _tasks, ...capabilities } = (result.capabilities as Record<string, unknown> | undefined) ?? {};
        return channel.deliver(
          resultResponse(request.id, {
            ...result,
            capabilities,
            protocolVersion:
              typeof requested === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : result.protocolVersion,
          }),
        );
      }
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const uri = typeof params?.uri === 'string' ? params.uri : undefined;
        if (uri === undefined) break;
        const subscribers = this.subscriptions.get(uri) ?? new Set<SharedChannel>();
        // every subscription is the upstream's to accept (it is idempotent there); an unsubscription
        // reaches it only from the last subscriber, since it would end everyone's
        if (request.method === 'resources/subscribe') {
          subscribers.add(channel);
          this.subscriptions.set(uri, subscribers);
          return this.forward(channel, request, uri);
        }
        const last = subscribers.size === 1 && subscribers.has(channel);
        this.unsubscribe(channel, uri);
        if (!last) return channel.deliver(resultResponse(request.id, {}));
        break;
      }
    }
    if (request.method.startsWith('tasks/') || (request.method === 'tools/call' && params?.task !== undefined)) {
      const what = request.method === 'tools/call' ? 'a task-augmented tools/call' : request.method;
      return channel.deliver(errorResponse(request.id, ErrorCode.MethodNotFound, `${what} ${NOT_SHARED}`));
    }
    return this.forward(channel, request);
  }

  /** Send a session's request upstream under an id (and progress token) of the upstream connection's own. */
  private async forward(channel: SharedChannel, request: JSONRPCRequest, subscribes?: string, retried = false): Promise<void> {
    // the upstream went away since this session began: the session's next request starts it again,
    // and every request waits until the upstream has answered initialize (a start may be under way)
    await this.connect();
    // a session that ended meanwhile has recorded this request as interrupted: it is not sent
    if (!this.channels.has(channel)) throw new Error('the session closed');
    const params = request.params as Record<string, unknown> | undefined;
    const upstreamId = `s${++this.seq}`;
    const route: Route = { channel, id: request.id, subscribes };
    let out: JSONRPCRequest = { ...request, id: upstreamId };
    const token = progressToken(request);
    if (token !== undefined) {
      route.token = `p${upstreamId}`;
      route.originalToken = token;
      this.tokens.set(route.token, route);
      const meta = (params?._meta ?? {}) as Record<string, unknown>;
      out = { ...out, params: { ...params, _meta: { ...meta, progressToken: route.token } } };
    }
    this.routes.set(upstreamId, route);
    channel.pending.set(key(request.id), upstreamId);
    try {
      await this.send(out, upstreamId);
    } catch (error) {
      this.unroute(upstreamId);
      // refused for an unknown session, the request never ran: send it again once, on a new session
      if (sessionGone(error) && !retried) return this.forward(channel, request, subscribes, true);
      throw error;
    }
  }

  /** Send upstream; `route` is the upstream id of the request sent, which a lost session does not answer. */
  private async send(message: JSONRPCMessage, route?: string): Promise<void> {
    const transport = this.transport;
    if (!transport) throw new Error(`upstream ${this.name} is not connected`);
    try {
      await transport.send(message);
    } catch (error) {
      // an HTTP upstream that restarted no longer knows Airlock's session: the next request starts a new one
      if (sessionGone(error) && this.transport === transport) {
        if (route) this.unroute(route);
        this.lost(`upstream ${this.name} lost its session`);
        void transport.close().catch(() => {});
      }
      throw error;
    }
  }

  private unroute(upstreamId: string): Route | undefined {
    const route = this.routes.get(upstreamId);
    if (!route) return undefined;
    this.routes.delete(upstreamId);
    route.channel.pending.delete(key(route.id));
    if (route.token) this.tokens.delete(route.token);
    return route;
  }

  private unsubscribe(channel: SharedChannel, uri: string): void {
    const subscribers = this.subscriptions.get(uri);
    subscribers?.delete(channel);
    if (subscribers?.size === 0) this.subscriptions.delete(uri);
  }

  /** A session ends: its requests in flight are cancelled upstream, its subscriptions dropped. */
  detach(channel: SharedChannel, reason: string): void {
    if (!this.channels.delete(channel)) return;
    for (const upstreamId of [...channel.pending.values()]) {
      this.unroute(upstreamId);
      void this.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: upstreamId, reason } }).catch(() => {});
    }
    for (const [uri, subscribers] of this.subscriptions) {
      if (!subscribers.delete(channel) || subscribers.size > 0) continue;
      this.subscriptions.delete(uri);
      void this.request('resources/unsubscribe', { uri }).catch(() => {});
    }
  }

  // ─── upstream → sessions ──────────────────────────────────────────────────

  private fromUpstream(message: JSONRPCMessage): void {
    if (isResponse(message)) {
      const id = String(message.id);
      const internal = this.internal.get(id);
      const route = internal ? undefined : this.unroute(id);
      if (internal) {
        this.internal.delete(id);
        clearTimeout(internal.timer);
        internal.resolve(message);
      } else if (route) {
        // a subscription the upstream refused is no subscription: the next subscriber asks again
        if (route.subscribes !== undefined && 'error' in message) this.unsubscribe(route.channel, route.subscribes);
        route.channel.deliver({ ...message, id: route.id } as JSONRPCMessage);
      } else log.warn(`gateway: shared upstream ${this.name} answered an unknown request id; dropped`, { id });
      return;
    }
    if (isRequest(message)) {
      // no client capabilities were declared: nothing but ping may be asked of Airlock
      const answer =
        message.method === 'ping'
          ? resultResponse(message.id, {})
          : errorResponse(message.id, ErrorCode.MethodNotFound, `${message.method} ${NOT_SHARED}`);
      void this.send(answer).catch(() => {});
      return;
    }
    if (!isNotification(message)) return;
    const params = message.params as Record<string, unknown> | undefined;
    if (message.method === 'notifications/progress') {
      const route = typeof params?.progressToken === 'string' ? this.tokens.get(params.progressToken) : undefined;
      route?.channel.deliver({ ...message, params: { ...params, progressToken: route.originalToken } } as JSONRPCMessage);
    } else if (message.method.endsWith('/list_changed')) {
      for (const channel of this.channels) channel.deliver(message);
    } else if (message.method === 'notifications/resources/updated' && typeof params?.uri === 'string') {
      for (const channel of this.subscriptions.get(params.uri) ?? []) channel.deliver(message);
    } else {
      log.debug(`gateway: shared upstream ${this.name} sent ${message.method}; not relayed to any session`);
    }
  }

  /**
   * The upstream went away: the requests in flight end with an error (each session audits and
   * relays it); the sessions stay, held calls included, and the next request starts it again.
   * One agent crashing a shared server must not end the other agents' sessions.
   */
  private lost(reason: string): void {
    this.transport = undefined;
    this.ready = undefined;
    for (const { resolve, timer } of this.internal.values()) {
      clearTimeout(timer);
      resolve(errorResponse(undefined, ErrorCode.ConnectionClosed, reason));
    }
    this.internal.clear();
    const routes = [...this.routes.values()];
    this.routes.clear();
    this.tokens.clear();
    // a new server process has no subscriptions
    this.subscriptions.clear();
    for (const route of routes) {
      route.channel.pending.delete(key(route.id));
      route.channel.deliver(errorResponse(route.id, ErrorCode.ConnectionClosed, reason));
    }
  }

  /** Airlock is stopping: the connection closes and every session on it ends. */
  async close(): Promise<void> {
    const transport = this.transport;
    this.lost(`upstream ${this.name} is shutting down`);
    const channels = [...this.channels];
    this.channels.clear();
    for (const channel of channels) channel.lost();
    await transport?.close().catch(() => {});
  }
}

/** A session's view of a shared upstream: a Transport like any other for GatewaySession. */
export class SharedChannel implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  /** This session's request id (keyed) → the id it has upstream. */
  readonly pending = new Map<string, string>();
  private closed = false;

  constructor(private readonly shared: SharedUpstream) {}

  async start(): Promise<void> {
    await this.shared.connect();
    if (!this.closed) this.shared.attach(this);
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) throw new Error('the session closed');
    await this.shared.fromChannel(this, message);
  }

  deliver(message: JSONRPCMessage): void {
    if (!this.closed) this.onmessage?.(message);
  }

  /** Airlock is stopping. */
  lost(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending.clear();
    this.onclose?.();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.shared.detach(this, 'the agent session closed');
    this.onclose?.();
  }
}

/** The shared upstreams of this process, by name (the config is read once, at start). */
export class SharedUpstreams {
  private readonly byName = new Map<string, SharedUpstream>();

  channel(name: string, config: UpstreamConfig): SharedChannel {
    let shared = this.byName.get(name);
    if (!shared) {
      shared = new SharedUpstream(name, config);
      this.byName.set(name, shared);
    }
    return shared.channel();
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.byName.values()].map((shared) => shared.close()));
    this.byName.clear();
  }
}

/** An HTTP upstream's 404 to Airlock's session: it restarted, or dropped the session. */
function sessionGone(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 404;
}

/** Request ids are strings or numbers: `1` and `"1"` are different requests. */
function key(id: RequestId): string {
  return `${typeof id}:${id}`;
}
