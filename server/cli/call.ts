import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

export const ZCallOptions = z.object({
  upstream: z.string().min(1),
  tool: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()),
  url: z.url({ message: 'give --url (or AIRLOCK_URL), e.g. http://localhost:3000' }),
  token: z.string().min(1, 'give --token or set AIRLOCK_TOKEN'),
  /** How long to wait for a held call (ms). */
  timeoutMs: z.number().int().positive(),
});

/** The call was given up after `--wait`: it was cancelled in Airlock, and did not run. */
export class CallTimeoutError extends Error {}

/**
 * Why connecting failed, in a line: fetch says only "fetch failed" (its cause says why), and
 * the SDK wraps an HTTP refusal's JSON-RPC body in its message.
 */
function connectFailure(error: unknown, endpoint: string): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const message = error instanceof Error ? error.message : String(error);
  const status = (error as { code?: unknown }).code;
  if (typeof status === 'number') {
    let said = message;
    try {
      said = (JSON.parse(message.slice(message.indexOf('{'))) as { error: { message: string } }).error.message;
    } catch {}
    return status === 401
      ? `Airlock refused the agent token at ${endpoint} (401: ${said})`
      : `Airlock answered ${status} at ${endpoint}: ${said}`;
  }
  return `cannot reach Airlock at ${endpoint}: ${cause?.code ?? cause?.message ?? message}`;
}

/**
 * Call one tool through the gateway as an agent would, waiting while it is held: a quick
 * way to try rules and the demo. Progress and log messages go to `onStatus`, each once.
 * On leaving, the MCP session is ended (DELETE), so nothing of it lingers in Airlock; a call
 * given up after `timeoutMs` is cancelled first (notifications/cancelled), so it never runs.
 */
export async function callTool(input: z.input<typeof ZCallOptions>, onStatus: (line: string) => void) {
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
  const timer = setTimeout(() => wait.abort(`no decision within ${minutes} min`), options.timeoutMs);
  try {
    return await client.callTool({ name: options.tool, arguments: options.arguments }, CallToolResultSchema, {
      // progress from Airlock keeps the call alive while a person decides
      onprogress: (p) => p.message && status(p.message),
      resetTimeoutOnProgress: true,
      timeout: 60_000,
      signal: wait.signal,
    });
  } catch (error) {
    if (wait.signal.aborted) {
      throw new CallTimeoutError(
        `no answer within ${minutes} min: the call was cancelled, and if it still awaited approval it will not run`,
      );
    }
    throw error;
  } finally {
    clearTimeout(timer);
    await transport.terminateSession().catch(() => {});
    await client.close();
  }
}
