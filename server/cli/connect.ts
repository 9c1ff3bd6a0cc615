import type { Readable, Writable } from 'node:stream';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { isJSONRPCRequest, isJSONRPCResultResponse, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/sdk/types.js';
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

function isUnauthorized(error: unknown): boolean {
  return error instanceof StreamableHTTPError && error.code === 401;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
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
  const http = new StreamableHTTPClientTransport(endpoint, { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  const stdio = new StdioServerTransport(stdin, stdout);

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });
  let finishing: Promise<number> | null = null;
  const finish = (code: number, message?: string): Promise<number> => {
    finishing ??= (async () => {
      if (message) log(message);
      stdin.off('end', onEnd);
      stdout.off('error', onStdoutError);
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

  // Requests sent before the initialize response would carry no session id: hold them until it arrives.
  let afterInitialize: Promise<void> = Promise.resolve();
  const initializeIds = new Set<RequestId>();

  stdio.onmessage = (message: JSONRPCMessage) => {
    const isRequest = isJSONRPCRequest(message);
    const isInitialize = isRequest && message.method === 'initialize';
    if (isInitialize) initializeIds.add(message.id);
    const sent = afterInitialize.then(() => http.send(message));
    if (isInitialize) afterInitialize = sent.catch(() => {});
    sent.catch(() => {
      // the transport already reported the error through onerror; a request still needs an answer
      if (finishing || !isRequest) return;
      void stdio.send({
        jsonrpc: '2.0',
        id: message.id,
        error: { code: -32000, message: `Airlock gateway ${endpoint.origin} did not accept the request` },
      });
    });
  };
  stdio.onerror = (error) => log(`airlock connect: unreadable message on stdin: ${describe(error)}`);

  http.onmessage = (message: JSONRPCMessage) => {
    if (isJSONRPCResultResponse(message) && initializeIds.delete(message.id)) {
      const version = (message.result as { protocolVersion?: unknown }).protocolVersion;
      if (typeof version === 'string') http.setProtocolVersion(version);
    }
    void stdio.send(message);
  };
  http.onerror = (error) => {
    if (isUnauthorized(error)) return void refused();
    if (!finishing) log(`airlock connect: ${describe(error)}`);
  };

  stdin.once('end', onEnd);
  stdout.on('error', onStdoutError);
  void (async () => {
    try {
      await http.start();
      await stdio.start();
    } catch (error) {
      await finish(1, `airlock connect: ${describe(error)}`);
    }
  })();

  return { done, stop: () => finish(0) };
}
