import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ZUpstreamName } from '../config/schema';

export const ZConnectOptions = z.object({
  upstream: ZUpstreamName,
  url: z.url({ protocol: /^https?$/, error: 'the gateway URL must be an http(s) URL, e.g. http://localhost:3000' }),
  token: z.string().min(1, 'an agent token is required (--token or AIRLOCK_TOKEN)'),
});

export type ConnectOptions = z.infer<typeof ZConnectOptions> & {
  stdin?: Readable;
  stdout?: Writable;
  /** Diagnostics; stdout carries nothing but JSON-RPC. */
  log?: (line: string) => void;
};

/** The bridge's handle: `done` resolves to the exit code; `stop()` ends the session early (signals). */
export type Bridge = { done: Promise<number>; stop(): Promise<number> };

/** How long to wait for the gateway to acknowledge the end of the session before exiting anyway. */
const TERMINATE_TIMEOUT_MS = 2000;
/** How long a new session's initialize may take before the bridge gives up. */
const RENEW_TIMEOUT_MS = 30_000;
/** After a response stream ends, how long its last event has to reach the host before its requests count as lost. */
const STREAM_END_GRACE_MS = 200;

function isUnauthorized(error: unknown): boolean {
  return error instanceof StreamableHTTPError && error.code === 401;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The gateway's own words for a refused POST (its JSON-RPC error), else the HTTP error. */
function refusalText(error: unknown): string {
  const text = describe(error);
  const body = /Error POSTing to endpoint: (\{.*\})\s*$/s.exec(text)?.[1];
  try {
    const message = (JSON.parse(body ?? '') as { error?: { message?: unknown } }).error?.message;
    if (typeof message === 'string') return message;
  } catch {}
  return text;
}

/**
 * The requests in one message or a batch, by shape rather than the SDK's strict schema: a
 * request with a key it does not know still needs its answer.
 */
function requestsIn(message: unknown): JSONRPCRequest[] {
  return (Array.isArray(message) ? message : [message]).filter(
    (m): m is JSONRPCRequest => typeof m === 'object' && m !== null && 'method' in m && 'id' in m,
  );
}

/** The ids of the requests in a POST body. */
function requestIds(body: unknown): RequestId[] {
  if (typeof body !== 'string') return [];
  try {
    return requestsIn(JSON.parse(body)).map((m) => m.id);
  } catch {
    return [];
  }
}

/** Send later requests under the protocol version an initialize result agreed on. */
function adoptVersion(transport: StreamableHTTPClientTransport, result: { result: Record<string, unknown> }): void {
  const version = result.result.protocolVersion;
  if (typeof version === 'string') transport.setProtocolVersion(version);
}

/**
 * `fetch`, telling `onEnd` the request ids of a POST once its response stream (SSE) has ended,
 * however it ended: a held call's answer comes on such a stream, minutes later, and a dropped
 * connection (the gateway restarted, a proxy timed out) must not leave the host waiting forever.
 */
function watchingStreams<T>(onStart: (ids: RequestId[]) => T, onEnd: (started: T) => void): FetchLike {
  return async (url, init) => {
    const ids = init?.method === 'POST' ? requestIds(init.body) : [];
    // what the ids stand for now: a host may use an id again once it is answered
    const started = onStart(ids);
    const response = await fetch(url, init);
    if (ids.length === 0 || !response.body || !response.headers.get('content-type')?.includes('text/event-stream')) return response;
    const reader = response.body.getReader();
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      onEnd(started);
    };
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            controller.close();
            end();
          } else controller.enqueue(value);
        } catch (error) {
          controller.error(error);
          end();
        }
      },
      cancel(reason) {
        end();
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

/**
 * `airlock connect`: a stdio MCP server on this side, a Streamable HTTP client of
 * `<url>/mcp/<upstream>` on the other, for hosts that only launch stdio servers. Every
 * JSON-RPC message is relayed as is in both directions (no SDK Client or Server, so
 * nothing is negotiated or rewritten here: invariant 9). Ends when stdin closes (exit 0)
 * or when the gateway refuses the token (exit 1).
 */
export function connect(options: ConnectOptions): Bridge {
  const { upstream, url, token } = ZConnectOptions.parse(options);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const endpoint = new URL(`${url.replace(/\/+$/, '')}/mcp/${encodeURIComponent(upstream)}`);
  const stdio = new StdioServerTransport(stdin, stdout);

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });
  let finishing: Promise<number> | null = null;
  const finish = (code: number, message?: string): Promise<number> => {
    finishing ??= (async () => {
      if (message) log(message);
      lines.off('close', onEnd);
      stdout.off('error', onStdoutError);
      lines.close();
      stdin.pause();
      await stdio.close().catch(() => {});
      // tell the gateway the session is over, so a call still held for approval is cancelled
      if (code === 0) {
        await Promise.race([http.terminateSession().catch(() => {}), new Promise((r) => setTimeout(r, TERMINATE_TIMEOUT_MS).unref())]);
      }
      await http.close().catch(() => {});
      resolveDone(code);
      return code;
    })();
    return finishing;
  };
  const onEnd = () => void finish(0);
  // the host closed its end of our stdout (EPIPE on the next write): the session is over, as when stdin ends
  const onStdoutError = (error: Error) =>
    void finish(0, (error as NodeJS.ErrnoException).code === 'EPIPE' ? undefined : `airlock connect: stdout: ${describe(error)}`);
  const refused = () =>
    finish(
      1,
      `airlock connect: the gateway at ${endpoint.origin} refused the agent token (401): check --token / AIRLOCK_TOKEN, or whether the agent was revoked`,
    );

  // The host's requests not yet answered (each numbered, since an id may come again once answered):
  // each gets exactly one answer, the gateway's or, if the connection it was to come on ends
  // first, an error saying so.
  const unanswered = new Map<RequestId, number>();
  let requestSeq = 0;
  const answerError = (id: RequestId, message: string, seq?: number) => {
    if (!unanswered.has(id) || (seq !== undefined && unanswered.get(id) !== seq) || finishing) return;
    unanswered.delete(id);
    void stdio.send({ jsonrpc: '2.0', id, error: { code: ErrorCode.ConnectionClosed, message } });
  };
  const streamStarted = (ids: RequestId[]) => ids.map((id) => [id, unanswered.get(id)] as const);
  const streamEnded = (requests: (readonly [RequestId, number | undefined])[]) => {
    // its last event may still be on its way to the host through the transport's parser
    setTimeout(() => {
      for (const [id, seq] of requests) {
        if (seq === undefined) continue;
        answerError(
          id,
          `the connection to the Airlock gateway at ${endpoint.origin} ended before its answer; if it was a tool call, it may or may not have run (check Airlock before retrying)`,
          seq,
        );
      }
    }, STREAM_END_GRACE_MS).unref();
  };

  // Airlock's own requests to the gateway (a new session's initialize), answered here only
  const internal = new Map<RequestId, (message: JSONRPCMessage) => void>();
  const initializeIds = new Set<RequestId>();
  /** The host's initialize, replayed when the gateway has forgotten the session. */
  let initialize: JSONRPCRequest | undefined;

  const open = (): StreamableHTTPClientTransport => {
    const transport = new StreamableHTTPClientTransport(endpoint, {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
      fetch: watchingStreams(streamStarted, streamEnded),
    });
    transport.onmessage = (message: JSONRPCMessage) => {
      const id = 'id' in message && ('result' in message || 'error' in message) ? message.id : undefined;
      const own = id === undefined ? undefined : internal.get(id);
      if (own && id !== undefined) {
        internal.delete(id);
        return own(message);
      }
      if (isJSONRPCResultResponse(message) && initializeIds.delete(message.id)) adoptVersion(transport, message);
      if (id !== undefined) unanswered.delete(id);
      void stdio.send(message);
    };
    transport.onerror = (error) => {
      if (isUnauthorized(error)) return void refused();
      if (!finishing && transport === http) log(`airlock connect: ${describe(error)}`);
    };
    return transport;
  };
  let http = open();

  /**
   * The gateway answered 404: it no longer knows the session (it restarted, or closed the session
   * when idle). MCP asks the client to start a new one: the host's initialize is replayed, its
   * answer kept here, and the host carries on; calls of the old session were ended with it.
   */
  let renewing: Promise<void> | null = null;
  const renew = (stale: StreamableHTTPClientTransport): Promise<void> => {
    if (http !== stale) return renewing ?? Promise.resolve();
    renewing = (async () => {
      log('airlock connect: the gateway no longer knows this session (404); starting a new one');
      const fresh = open();
      http = fresh;
      void stale.close().catch(() => {});
      await fresh.start();
      const id = `airlock-connect-${randomUUID()}`;
      const answer = new Promise<JSONRPCMessage>((resolve, reject) => {
        internal.set(id, resolve);
        setTimeout(() => reject(new Error('the gateway did not answer initialize')), RENEW_TIMEOUT_MS).unref();
      });
      await fresh.send({ ...(initialize as JSONRPCRequest), id });
      const result = await answer;
      if (!isJSONRPCResultResponse(result)) throw new Error(`the gateway refused initialize: ${JSON.stringify(result)}`);
      adoptVersion(fresh, result);
      await fresh.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    })();
    renewing.then(
      () => {
        renewing = null;
      },
      (error) => void finish(1, `airlock connect: the gateway ended this session, and a new one could not be started: ${describe(error)}`),
    );
    return renewing;
  };

  /** Send on the current session; a 404 (session gone) renews it and sends again, once. */
  const relay = async (message: JSONRPCMessage | JSONRPCMessage[]): Promise<void> => {
    await renewing;
    const transport = http;
    try {
      await transport.send(message);
    } catch (error) {
      const gone = error instanceof StreamableHTTPError && error.code === 404 && transport.sessionId !== undefined;
      if (!gone || !initialize || (!Array.isArray(message) && isJSONRPCRequest(message) && message.method === 'initialize')) throw error;
      await renew(transport);
      await http.send(message);
    }
  };

  // Requests sent before the initialize response would carry no session id: hold them until it arrives.
  let afterInitialize: Promise<void> = Promise.resolve();

  /**
   * Each request's POST, settled once the gateway has it (its answer's stream began, or the
   * answer came): a cancellation waits for its request's POST, since a stdio host expects its
   * messages to arrive in order, and the gateway ignores a cancellation of a call it never saw.
   */
  const posted = new Map<RequestId, Promise<void>>();

  const fromHost = (message: JSONRPCMessage | JSONRPCMessage[]) => {
    const single = Array.isArray(message) ? undefined : message;
    const requests = requestsIn(message);
    const isInitialize = single !== undefined && isJSONRPCRequest(single) && single.method === 'initialize';
    if (isInitialize) {
      initializeIds.add(single.id);
      initialize = single;
    }
    const seqs = requests.map((request) => {
      unanswered.set(request.id, ++requestSeq);
      return requestSeq;
    });
    const cancelled =
      single && 'method' in single && single.method === 'notifications/cancelled'
        ? posted.get((single.params as { requestId?: RequestId } | undefined)?.requestId ?? '')
        : undefined;
    const sent = (cancelled ?? afterInitialize).then(() => relay(message));
    if (isInitialize) afterInitialize = sent.catch(() => {});
    const settled = sent.catch(() => {});
    for (const request of requests) {
      posted.set(request.id, settled);
      void settled.then(() => setTimeout(() => posted.delete(request.id), 10_000).unref());
    }
    sent.catch((error) => {
      // the transport already reported the error through onerror; a request still needs an answer
      if (finishing) return;
      for (const [i, request] of requests.entries()) {
        answerError(
          request.id,
          error instanceof StreamableHTTPError && (error.code ?? 0) > 0
            ? `Airlock gateway ${endpoint.origin} did not accept the request: ${refusalText(error)}`
            : `the request to the Airlock gateway at ${endpoint.origin} failed (${describe(error)}); if it was a tool call, it may or may not have run (check Airlock before retrying)`,
          seqs[i],
        );
      }
    });
  };

  // stdin is read here, not by the SDK's stdio transport: that one drops a line its schema does not
  // accept (a key it does not know, a batch) without a word, and the host would wait for an answer
  // forever. Every JSON object or array goes to the gateway as it is, which judges it.
  const lines = createInterface({ input: stdin, crlfDelay: Number.POSITIVE_INFINITY });
  // readline passes stdin's errors on while it reads, and closing it leaves stdin with no listener:
  // unheard, an error would end the process without closing the session, so stdin keeps one too
  const onStdinError = (error: Error) => void finish(1, `airlock connect: stdin: ${describe(error)}`);
  lines.on('error', onStdinError);
  stdin.on('error', onStdinError);
  lines.on('line', (line) => {
    if (finishing || line.trim() === '') return;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      log('airlock connect: a line on stdin is not JSON; answered with a parse error');
      void stdio.send({ jsonrpc: '2.0', id: null, error: { code: ErrorCode.ParseError, message: 'Parse error: not JSON' } } as never);
      return;
    }
    if (typeof message !== 'object' || message === null) {
      void stdio.send({ jsonrpc: '2.0', id: null, error: { code: ErrorCode.InvalidRequest, message: 'Invalid Request' } } as never);
      return;
    }
    fromHost(message as JSONRPCMessage | JSONRPCMessage[]);
  });

  // (its 'close' comes from stdin's end here, and from finish() itself)
  lines.once('close', onEnd);
  stdout.on('error', onStdoutError);
  void (async () => {
    try {
      await http.start();
    } catch (error) {
      await finish(1, `airlock connect: ${describe(error)}`);
    }
  })();

  return { done, stop: () => finish(0) };
}
