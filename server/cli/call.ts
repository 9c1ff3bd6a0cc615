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

/**
 * Call one tool through the gateway as an agent would, waiting while it is held: a quick
 * way to try rules and the demo. Progress and log messages go to `onStatus`.
 */
export async function callTool(input: z.input<typeof ZCallOptions>, onStatus: (line: string) => void) {
  const options = ZCallOptions.parse(input);
  const client = new Client({ name: 'airlock-cli', version: '1.0.0' });
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => onStatus(`[${n.params.level}] ${String(n.params.data)}`));
  const base = options.url.replace(/\/+$/, '');
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${base}/mcp/${encodeURIComponent(options.upstream)}`), {
      requestInit: { headers: { Authorization: `Bearer ${options.token}` } },
    }),
  );
  try {
    return await client.callTool({ name: options.tool, arguments: options.arguments }, CallToolResultSchema, {
      // progress from Airlock keeps the call alive while a person decides
      onprogress: (p) => p.message && onStatus(p.message),
      resetTimeoutOnProgress: true,
      timeout: 60_000,
      maxTotalTimeout: options.timeoutMs,
    });
  } finally {
    await client.close();
  }
}
