import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isInitializeRequest, JSONRPCMessageSchema, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { isRequest, isResponse, type JSONRPCMessage, type RequestId } from './messages';

/** The most messages in one POSTed batch (the SDK's limit). */
const MAX_BATCH = 100;
const STANDALONE = 'standalone';

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
  /** How long a POST's SSE headers wait for its first event before they are sent alone (ms, default 50). */
  headersWaitMs?: number;
};

/** One SSE response: a POST's (its requests' answers) or the session's standalone GET stream. */
class SseStream {
  private keepAlive?: NodeJS.Timeout;
  private headersTimer?: NodeJS.Timeout;
  ended = false;

  constructor(
    readonly res: ServerResponse,
    headers: Record<string, string>,
    { keepAliveMs, headersWaitMs, onGone }: { keepAliveMs: number; headersWaitMs: number; onGone: () => void },
  ) {
    if (res.destroyed || res.closed) {
      // the agent left while the gateway authenticated it: 'close' has been and gone
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

  /** End the response, with a last event if given: the last event and the end leave together. */
  end(message?: JSONRPCMessage): void {
    const open = this.open();
    this.stop();
    if (open) this.res.end(message ? sseEvent(message) : undefined);
  }
}

function sseEvent(message: JSONRPCMessage): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

function jsonError(res: ServerResponse, status: number, code: number, message: string, extraHeaders: Record<string, string> = {}): void {
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...extraHeaders });
  res.end(body);
}

/**
 * The agent side of one MCP session over Streamable HTTP, written straight to Node's
 * request and response: the SDK's StreamableHTTPServerTransport converts every request
 * to a web Request and every SSE stream to a web ReadableStream and back (through
 * @hono/node-server), which cost a fifth of the gateway's CPU per relayed call. Behaviour
 * and error answers are the SDK transport's without an event store (sessions, protocol
 * version header, batches, one standalone stream, 202 for notifications, keep-alive),
 * so the conformance suite sees no difference; the gateway has already checked Host,
 * Origin, the body's size and JSON syntax, and which session a request belongs to.
 */
export class DownstreamTransport implements Transport {
  sessionId?: string;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private readonly streams = new Map<string, SseStream>();
  /** Which stream each request's answer goes to, until every request of that stream is answered. */
  private readonly streamOfRequest = new Map<RequestId, string>();
  /** Requests answered (or abandoned) while others of their stream are not yet. */
  private readonly settled = new Set<RequestId>();
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
    if (this.closed) return jsonError(res, 404, -32001, 'Session not found');
    if (req.method === 'POST') return this.post(req, res, body);
    if (req.method === 'GET') return this.get(req, res);
    if (req.method === 'DELETE') return this.delete(req, res);
    this.fail('Method not allowed.');
    jsonError(res, 405, -32000, 'Method not allowed.', { Allow: 'GET, POST, DELETE' });
  }

  private fail(message: string): void {
    this.onerror?.(new Error(message));
  }

  /** The session and protocol-version checks of every request after `initialize`; false once answered. */
  private checkSession(req: IncomingMessage, res: ServerResponse): boolean {
    const refuse = (status: number, code: number, message: string) => {
      this.fail(message);
      jsonError(res, status, code, message);
      return false;
    };
    if (!this.initialized) return refuse(400, -32000, 'Bad Request: Server not initialized');
    const sessionId = req.headers['mcp-session-id'];
    if (!sessionId) return refuse(400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    if (sessionId !== this.sessionId) return refuse(404, -32001, 'Session not found');
    const version = req.headers['mcp-protocol-version'];
    if (typeof version === 'string' && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      const supported = SUPPORTED_PROTOCOL_VERSIONS.join(', ');
      return refuse(400, -32000, `Bad Request: Unsupported protocol version: ${version} (supported versions: ${supported})`);
    }
    return true;
  }

  private sseHeaders(): Record<string, string> {
    return this.sessionId === undefined ? { ...SSE_HEADERS } : { ...SSE_HEADERS, 'mcp-session-id': this.sessionId };
  }

  private async post(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    const accept = req.headers.accept;
    if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) {
      const message = 'Not Acceptable: Client must accept both application/json and text/event-stream';
      this.fail(message);
      return jsonError(res, 406, -32000, message);
    }
    if (!isJsonContentType(req.headers['content-type'])) {
      const message = 'Unsupported Media Type: Content-Type must be application/json';
      this.fail(message);
      return jsonError(res, 415, -32000, message);
    }
    if (Array.isArray(body) && body.length > MAX_BATCH) {
      const message = `Invalid Request: Batch must not exceed ${MAX_BATCH} messages`;
      this.fail(message);
      return jsonError(res, 400, -32600, message);
    }
    let messages: JSONRPCMessage[];
    try {
      messages = (Array.isArray(body) ? body : [body]).map((message) => JSONRPCMessageSchema.parse(message) as JSONRPCMessage);
    } catch {
      this.fail('Parse error: Invalid JSON-RPC message');
      return jsonError(res, 400, -32700, 'Parse error: Invalid JSON-RPC message');
    }

    // a whole initialize request (the SDK's schema): a bare method name opens no session and starts no upstream
    if (messages.some((message) => isInitializeRequest(message))) {
      if (this.initialized) {
        this.fail('Invalid Request: Server already initialized');
        return jsonError(res, 400, -32600, 'Invalid Request: Server already initialized');
      }
      if (messages.length > 1) {
        this.fail('Invalid Request: Only one initialization request is allowed');
        return jsonError(res, 400, -32600, 'Invalid Request: Only one initialization request is allowed');
      }
      this.sessionId = randomUUID();
      this.initialized = true;
      this.options.onSessionInitialized(this.sessionId);
    } else if (!this.checkSession(req, res)) return;

    const requests = messages.filter(isRequest);
    // a reused id would take over the first request's stream, and its answer would be lost: refuse the POST whole
    const ids = new Set<RequestId>();
    for (const { id } of requests) {
      if (this.streamOfRequest.has(id) || ids.has(id)) {
        const message = `Invalid Request: request id ${JSON.stringify(id)} is already in use in this session`;
        this.fail(message);
        return jsonError(res, 400, -32600, message);
      }
      ids.add(id);
    }
    if (requests.length === 0) {
      for (const message of messages) this.onmessage?.(message);
      res.writeHead(202).end();
      return;
    }
    const streamId = randomUUID();
    const stream = new SseStream(res, this.sseHeaders(), {
      keepAliveMs: this.keepAliveMs,
      headersWaitMs: this.headersWaitMs,
      // the agent dropped the connection: later answers have nowhere to go (as with the SDK transport)
      onGone: () => this.streams.get(streamId) === stream && this.streams.delete(streamId),
    });
    this.streams.set(streamId, stream);
    for (const request of requests) this.streamOfRequest.set(request.id, streamId);
    for (const message of messages) this.onmessage?.(message);
  }

  private async get(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!req.headers.accept?.includes('text/event-stream')) {
      this.fail('Not Acceptable: Client must accept text/event-stream');
      return jsonError(res, 406, -32000, 'Not Acceptable: Client must accept text/event-stream');
    }
    if (!this.checkSession(req, res)) return;
    if (this.streams.has(STANDALONE)) {
      this.fail('Conflict: Only one SSE stream is allowed per session');
      return jsonError(res, 409, -32000, 'Conflict: Only one SSE stream is allowed per session');
    }
    const stream = new SseStream(res, this.sseHeaders(), {
      keepAliveMs: this.keepAliveMs,
      // a standalone stream opens now: the agent waits for its headers to know it is live
      headersWaitMs: 0,
      onGone: () => this.streams.get(STANDALONE) === stream && this.streams.delete(STANDALONE),
    });
    this.streams.set(STANDALONE, stream);
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
      this.streams.get(STANDALONE)?.write(message);
      return;
    }
    const streamId = this.streamOfRequest.get(requestId);
    if (streamId === undefined) throw new Error(`No connection established for request ID: ${String(requestId)}`);
    if (!response) {
      const stream = this.streams.get(streamId);
      // the agent dropped that stream: the caller falls back to the standalone one
      if (!stream) throw new Error(`The stream of request ${String(requestId)} is closed`);
      return stream.write(message);
    }
    if (!this.settle(requestId, streamId, message) && !this.closed) {
      throw new Error(`No connection established for request ID: ${String(requestId)}`);
    }
  }

  /**
   * A request that will get no answer from Airlock (MCP: a cancelled request is not
   * answered): its stream no longer waits for it, and ends once its other requests are answered.
   */
  endRequest(requestId: RequestId): void {
    const streamId = this.streamOfRequest.get(requestId);
    if (streamId !== undefined) this.settle(requestId, streamId);
  }

  /** Count a request as answered (by `answer`) or abandoned; a stream ends with its last request. False if its stream is gone. */
  private settle(requestId: RequestId, streamId: string, answer?: JSONRPCMessage): boolean {
    const stream = this.streams.get(streamId);
    this.settled.add(requestId);
    const batch = [...this.streamOfRequest].filter(([, id]) => id === streamId).map(([id]) => id);
    if (!batch.every((id) => this.settled.has(id))) {
      if (answer) stream?.write(answer);
      return stream !== undefined;
    }
    for (const id of batch) {
      this.settled.delete(id);
      this.streamOfRequest.delete(id);
    }
    if (!stream) return false;
    this.streams.delete(streamId);
    stream.end(answer);
    return true;
  }

  /** End every stream and the session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stream of this.streams.values()) stream.end();
    this.streams.clear();
    this.settled.clear();
    this.onclose?.();
  }
}
