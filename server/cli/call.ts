import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

export const ZCallOptions = z.object({
  upstream: z.string().min(1),
  tool: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()),
  url: z.url({ message: 'give --url (or AIRLOCK_URL), e.g. http://localhost:3000' }),
  token: z.string().min(1, 'give --token or set AIRLOCK_TOKEN'),
  /** How long to wait for a held call (ms; at most what a timer can count, about 24 days). */
  timeoutMs: z.number().int().positive().max(2_147_483_647),
});

/** The call was given up (after `--wait`, or interrupted): it was cancelled in Airlock. */
export class CallAbandonedError extends Error {}

/**
 * Why connecting failed, in a line: fetch says only "fetch failed" (its cause says why), and
 * the SDK wraps an HTTP refusal's JSON-RPC body in its message.
 */
function connectFailure(error: unknown, endpoint: string): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof StreamableHTTPError && typeof error.code === 'number') {
    let said = message;
    try {
      said = (JSON.parse(message.slice(message.indexOf('{'))) as { error: { message: string } }).error.message;
    } catch {}
    return error.code === 401
      ? `Airlock refused the agent token at ${endpoint} (401: ${said})`
      : `Airlock answered HTTP ${error.code} at ${endpoint}: ${said}`;
  }
  // a JSON-RPC error to initialize (the upstream cannot start, say) rather than a network failure
  if (cause === undefined && error instanceof Error) return `Airlock could not open a session at ${endpoint}: ${message}`;
  return `cannot reach Airlock at ${endpoint}: ${cause?.code ?? cause?.message ?? message}`;
}

/**
 * Call one tool through the gateway as an agent would, waiting while it is held: a quick
 * way to try rules and the demo. Progress and log messages go to `onStatus`, each once.
 * On leaving, the MCP session is ended (DELETE), so nothing of it lingers in Airlock; a call
 * given up (after `timeoutMs`, or when `interrupt` aborts) is cancelled first
 * (notifications/cancelled): a held call then never runs.
 */
export async function callTool(input: z.input<typeof ZCallOptions>, onStatus: (line: string) => void, interrupt?: AbortSignal) {
  const options = ZCallOptions.parse(input);
  const client = new Client({ name: 'airlock-cli', version: '1.0.0' });
  const shown = new Set<string>();
  const status = (line: string) => {
    // the same "awaits approval" text comes with every progress notification, and as a log message
    if (!shown.has(line)) onStatus(line);
    shown.add(line);
  };
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => status(String(n.params.data)));
  const base = options.url.replace(/\/+$/, '');
  const endpoint = `${base}/mcp/${encodeURIComponent(options.upstream)}`;
  const transport = new StreamableHTTPClientTransport(new URL(endpoint), {
    requestInit: { headers: { Authorization: `Bearer ${options.token}` } },
  });
  try {
    await client.connect(transport);
  } catch (error) {
    await client.close().catch(() => {});
    throw new Error(connectFailure(error, endpoint));
  }
  // the SDK's own maxTotalTimeout gives up without telling the server; an abort sends notifications/cancelled
  const wait = new AbortController();
  const minutes = Number((options.timeoutMs / 60_000).toFixed(2));
  let why = `no answer within ${minutes} min`;
  const timer = setTimeout(() => wait.abort(why), options.timeoutMs);
  const interrupted = () => {
    why = 'interrupted';
    wait.abort(why);
  };
  if (interrupt?.aborted) interrupted();
  interrupt?.addEventListener('abort', interrupted, { once: true });
  try {
    return await client.callTool({ name: options.tool, arguments: options.arguments }, CallToolResultSchema, {
      // progress from Airlock keeps the call alive while a person decides
      onprogress: (p) => p.message && status(p.message),
      resetTimeoutOnProgress: true,
      timeout: 60_000,
      signal: wait.signal,
    });
  } catch (error) {
    if (wait.signal.aborted)
      throw new CallAbandonedError(`${why}: the call was cancelled, and if it still awaited approval it will not run`);
    throw error;
  } finally {
    clearTimeout(timer);
    interrupt?.removeEventListener('abort', interrupted);
    await transport.terminateSession().catch(() => {});
    await client.close();
  }
}
