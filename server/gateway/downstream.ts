import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isInitializeRequest, JSONRPCMessageSchema, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { isRequest, isResponse, type JSONRPCMessage, type RequestId, sendJsonRpcError } from './messages';

/** The most messages in one POSTed batch (the SDK's limit). */
const MAX_BATCH = 100;
/** The most messages kept for a standalone stream not open yet (or reopening); the oldest go first. */
const MAX_QUEUED = 100;

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
} as const;

export type DownstreamOptions = {
  /** Called with the new session's id once `initialize` arrives, before it is handled. */
  onSessionInitialized: (sessionId: string) => void;
  /** Comment lines on every open SSE stream this often, so proxies keep it open (ms, 0 for none). */
  keepAliveMs?: number;
  /**
   * How long a POST's SSE headers wait for its first event before they are sent alone (ms, default
   * 50). A single request answered within it, with nothing before, gets a JSON body instead.
   */
  headersWaitMs?: number;
  /**
   * The agent dropped a POST's stream with these requests unanswered. Without an event store
   * there is no resuming it, so their answers can never reach the agent.
   */
  onAbandoned?: (requestIds: RequestId[]) => void;
};

/** One SSE response: a POST's (its requests' answers) or the session's standalone GET stream. */
class SseStream {
  private keepAlive?: NodeJS.Timeout;
  private headersTimer?: NodeJS.Timeout;
  ended = false;

  /** Whether an answer that ends the stream before anything else went out may leave as one JSON body (see `end`). */
  private readonly json: boolean;

  constructor(
    readonly res: ServerResponse,
    headers: Record<string, string>,
    { keepAliveMs, headersWaitMs, json, onGone }: { keepAliveMs: number; headersWaitMs: number; json: boolean; onGone: () => void },
  ) {
    // headers flushed at once (no wait) make `end` stream: the JSON body needs them unsent
    this.json = json;
    if (res.destroyed || res.closed) {
      // the agent left while the gateway authenticated it: 'close' has been and gone, so the
      // stream is gone from birth, told once its requests are dispatched (the rest of this turn)
      this.ended = true;
      queueMicrotask(onGone);
      return;
    }
    res.statusCode = 200;
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    // the headers go out with the first event; a call answered at once then leaves in one write (headers, event, end)
    if (headersWaitMs <= 0) res.flushHeaders();
    else this.headersTimer = setTimeout(() => this.open() && res.flushHeaders(), headersWaitMs);
    if (keepAliveMs > 0) {
      this.keepAlive = setInterval(() => this.open() && res.write(': keepalive\n\n'), keepAliveMs);
      this.keepAlive.unref();
    }
    res.once('close', () => {
      if (this.ended) return;
      this.stop();
      onGone();
    });
  }

  private open(): boolean {
    return !this.ended && !this.res.writableEnded && !this.res.destroyed;
  }

  private stop(): void {
    this.ended = true;
    clearTimeout(this.headersTimer);
    clearInterval(this.keepAlive);
  }

  write(message: JSONRPCMessage): void {
    if (this.open()) this.res.write(sseEvent(message));
  }

  /**
   * End the response, with a last event if given: the last event and the end leave together.
   * The answer to a POST of one request, ready before the stream's headers went out, leaves
   * instead as an `application/json` body, which Streamable HTTP allows and every client must
   * accept: the agent reads one JSON document rather than run an SSE parser for one event.
   */
  end(message?: JSONRPCMessage): void {
    const open = this.open();
    this.stop();
    if (!open) return;
    if (message && this.json && !this.res.headersSent) {
      this.res.setHeader('Content-Type', 'application/json');
      this.res.removeHeader('X-Accel-Buffering');
      // a plain reply: the connection is kept or closed as the agent asked
      this.res.removeHeader('Connection');
      this.res.end(JSON.stringify(message));
      return;
    }
    this.res.end(message ? sseEvent(message) : undefined);
  }
}

/** The requests of one POST that still wait for an answer, and the stream their answers go to. */
type Batch = { stream: SseStream; unanswered: Set<RequestId> };

function sseEvent(message: JSONRPCMessage): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

/**
 * The agent side of one MCP session over Streamable HTTP, written straight to Node's
 * request and response: the SDK's StreamableHTTPServerTransport converts every request
 * to a web Request and every SSE stream to a web ReadableStream and back (through
 * @hono/node-server), which cost a fifth of the gateway's CPU per relayed call. Behaviour
 * and error answers are the SDK transport's without an event store (sessions, protocol
 * version header, batches, one standalone stream, 202 for notifications, keep-alive),
 * except that an answer ready at once leaves as JSON (see `SseStream.end`), which the
 * conformance suite reports as INFO in one check. The gateway has already checked Host,
 * Origin, the body's size and JSON syntax, and which session a request belongs to.
 */
export class DownstreamTransport implements Transport {
  sessionId?: string;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  /** Each unanswered request's POST: its stream ends with the last of them. */
  private readonly batches = new Map<RequestId, Batch>();
  /** Streams not yet ended, for close(). */
  private readonly open = new Set<SseStream>();
  private standalone?: SseStream;
  /**
   * Messages for the standalone stream while none is open: a server's `list_changed` right
   * after initialize comes before the agent's GET, and would be lost (as the SDK transport
   * loses it) though a direct connection delivers it.
   */
  private queued: JSONRPCMessage[] = [];
  private headers: Record<string, string> = { ...SSE_HEADERS };
  private initialized = false;
  private closed = false;
  private readonly keepAliveMs: number;
  private readonly headersWaitMs: number;

  constructor(private readonly options: DownstreamOptions) {
    this.keepAliveMs = options.keepAliveMs ?? 15_000;
    this.headersWaitMs = options.headersWaitMs ?? 50;
  }

  async start(): Promise<void> {}

  /** Serve one HTTP request of this session; a POST's body comes parsed. */
  async handleRequest(req: IncomingMessage, res: ServerResponse, body?: unknown): Promise<void> {
    if (this.closed) return void sendJsonRpcError(res, 404, -32001, 'Session not found');
    if (req.method === 'POST') return this.post(req, res, body);
    if (req.method === 'GET') return this.get(req, res);
    if (req.method === 'DELETE') return this.delete(req, res);
    this.refuse(res, 405, -32000, 'Method not allowed.', { Allow: 'GET, POST, DELETE' });
  }

  /** Answer a request with a JSON-RPC error and tell `onerror`, as the SDK transport does; false, for early returns. */
  private refuse(res: ServerResponse, status: number, code: number, message: string, headers?: Record<string, string>): false {
    this.onerror?.(new Error(message));
    sendJsonRpcError(res, status, code, message, headers);
    return false;
  }

  /** The session and protocol-version checks of every request after `initialize`; false once answered. */
  private checkSession(req: IncomingMessage, res: ServerResponse): boolean {
    if (!this.initialized) return this.refuse(res, 400, -32000, 'Bad Request: Server not initialized');
    const sessionId = req.headers['mcp-session-id'];
    if (!sessionId) return this.refuse(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    if (sessionId !== this.sessionId) return this.refuse(res, 404, -32001, 'Session not found');
    const version = req.headers['mcp-protocol-version'];
    if (typeof version === 'string' && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      const supported = SUPPORTED_PROTOCOL_VERSIONS.join(', ');
      return this.refuse(res, 400, -32000, `Bad Request: Unsupported protocol version: ${version} (supported versions: ${supported})`);
    }
    return true;
  }

  private stream(res: ServerResponse, headersWaitMs: number, json: boolean, onGone?: () => void): SseStream {
    const stream = new SseStream(res, this.headers, {
      keepAliveMs: this.keepAliveMs,
      headersWaitMs,
      json,
      onGone: () => {
        this.open.delete(stream);
        onGone?.();
      },
    });
    if (!stream.ended) this.open.add(stream);
    return stream;
  }

  private post(req: IncomingMessage, res: ServerResponse, body: unknown): void {
    const accept = req.headers.accept;
    if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) {
      this.refuse(res, 406, -32000, 'Not Acceptable: Client must accept both application/json and text/event-stream');
      return;
    }
    if (!isJsonContentType(req.headers['content-type'])) {
      this.refuse(res, 415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
      return;
    }
    if (Array.isArray(body) && body.length > MAX_BATCH) {
      this.refuse(res, 400, -32600, `Invalid Request: Batch must not exceed ${MAX_BATCH} messages`);
      return;
    }
    let messages: JSONRPCMessage[];
    try {
      messages = (Array.isArray(body) ? body : [body]).map((message) => JSONRPCMessageSchema.parse(message) as JSONRPCMessage);
    } catch {
      this.refuse(res, 400, -32700, 'Parse error: Invalid JSON-RPC message');
      return;
    }

    // a whole initialize request (the SDK's schema): a bare method name opens no session and starts no upstream
    if (messages.some((m) => isRequest(m) && m.method === 'initialize' && isInitializeRequest(m))) {
      if (this.initialized) return void this.refuse(res, 400, -32600, 'Invalid Request: Server already initialized');
      if (messages.length > 1) return void this.refuse(res, 400, -32600, 'Invalid Request: Only one initialization request is allowed');
      this.sessionId = randomUUID();
      this.headers = { ...SSE_HEADERS, 'mcp-session-id': this.sessionId };
      this.initialized = true;
      this.options.onSessionInitialized(this.sessionId);
    } else if (!this.checkSession(req, res)) return;

    const requests = messages.filter(isRequest);
    // a reused id would take over the first request's stream, and its answer would be lost: refuse the POST whole
    const unanswered = new Set<RequestId>();
    for (const { id } of requests) {
      if (this.batches.has(id) || unanswered.has(id)) {
        return void this.refuse(res, 400, -32600, `Invalid Request: request id ${JSON.stringify(id)} is already in use in this session`);
      }
      unanswered.add(id);
    }
    if (requests.length === 0) {
      for (const message of messages) this.onmessage?.(message);
      res.writeHead(202).end();
      return;
    }
    // if the agent drops the connection, later answers have nowhere to go (as with the SDK transport): the session is told
    const batch: Batch = {
      // a lone request (here, with requests to answer): a batch is answered with an array, and streams
      stream: this.stream(res, this.headersWaitMs, !Array.isArray(body), () => {
        if (batch.unanswered.size > 0) this.options.onAbandoned?.([...batch.unanswered]);
      }),
      unanswered,
    };
    for (const id of unanswered) this.batches.set(id, batch);
    for (const message of messages) this.onmessage?.(message);
  }

  private get(req: IncomingMessage, res: ServerResponse): void {
    if (!req.headers.accept?.includes('text/event-stream')) {
      this.refuse(res, 406, -32000, 'Not Acceptable: Client must accept text/event-stream');
      return;
    }
    if (!this.checkSession(req, res)) return;
    if (this.standalone && !this.standalone.ended) {
      this.refuse(res, 409, -32000, 'Conflict: Only one SSE stream is allowed per session');
      return;
    }
    // a standalone stream opens now: the agent waits for its headers to know it is live
    this.standalone = this.stream(res, 0, false);
    const queued = this.queued;
    this.queued = [];
    for (const message of queued) this.standalone.write(message);
  }

  private async delete(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.checkSession(req, res)) return;
    await this.close();
    res.writeHead(200).end();
  }

  /** Send a message to the agent: an answer on its request's stream, anything else on a related request's stream or the standalone one. */
  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const response = isResponse(message);
    const requestId = response ? (message.id as RequestId) : options?.relatedRequestId;
    if (requestId === undefined) {
      if (response) throw new Error('Cannot send a response on a standalone SSE stream unless resuming a previous client request');
      if (this.standalone && !this.standalone.ended) this.standalone.write(message);
      else if (!this.closed) {
        this.queued.push(message);
        if (this.queued.length > MAX_QUEUED) this.queued.shift();
      }
      return;
    }
    const batch = this.batches.get(requestId);
    if (!batch) {
      if (response && this.closed) return;
      throw new Error(`No connection established for request ID: ${String(requestId)}`);
    }
    if (!response) {
      // the agent dropped that stream: the caller falls back to the standalone one
      if (batch.stream.ended) throw new Error(`The stream of request ${String(requestId)} is closed`);
      return batch.stream.write(message);
    }
    if (!this.settle(requestId, batch, message)) throw new Error(`No connection established for request ID: ${String(requestId)}`);
  }

  /**
   * A request that will get no answer from Airlock (MCP: a cancelled request is not
   * answered): its stream no longer waits for it, and ends once its other requests are answered.
   */
  endRequest(requestId: RequestId): void {
    const batch = this.batches.get(requestId);
    if (batch) this.settle(requestId, batch);
  }

  /** Count a request as answered (by `answer`) or abandoned; the stream ends with its batch's last. False if the agent dropped it. */
  private settle(requestId: RequestId, batch: Batch, answer?: JSONRPCMessage): boolean {
    this.batches.delete(requestId);
    batch.unanswered.delete(requestId);
    const delivered = !batch.stream.ended;
    if (batch.unanswered.size > 0) {
      if (answer) batch.stream.write(answer);
    } else {
      this.open.delete(batch.stream);
      batch.stream.end(answer);
    }
    return delivered;
  }

  /** End every stream and the session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stream of this.open) stream.end();
    this.open.clear();
    this.batches.clear();
    this.onclose?.();
  }
}
