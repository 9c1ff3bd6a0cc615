import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { UpstreamConfig } from '../config/schema';
import { log } from '../lib/log';

/**
 * A client-side transport to one upstream MCP server. One per downstream session
 * (sampling, elicitation and roots must reach the right client), unless the upstream is
 * marked `shared: true`: then `shared-upstream.ts` connects it once, with no client capabilities.
 */
export function upstreamTransport(name: string, config: UpstreamConfig): Transport {
  if (config.transport === 'stdio') {
    const transport = new StdioClientTransport({
      command: config.command,
      args: config.args,
      // only the safe defaults of the parent's environment, then what the config declares
      env: { ...getDefaultEnvironment(), ...config.env },
      cwd: config.cwd,
      stderr: 'pipe',
    });
    // drained always (a full pipe would block the upstream), logged only at debug level
    transport.stderr?.on('data', (chunk: Buffer) =>
      log.enabled('debug') ? log.debug(`upstream ${name} stderr`, { text: chunk.toString().trimEnd() }) : undefined,
    );
    return transport;
  }
  return new StreamableHTTPClientTransport(new URL(config.url), {
    requestInit: { headers: config.headers },
  });
}
