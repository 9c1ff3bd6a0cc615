import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { commandFound } from '../config/load';
import type { UpstreamConfig } from '../config/schema';
import { log } from '../lib/log';

/**
 * A client-side transport to one upstream MCP server. One per downstream session
 * (sampling, elicitation and roots must reach the right client), unless the upstream is
 * marked `shared: true`: then `shared-upstream.ts` connects it once, with no client capabilities.
 */
export function upstreamTransport(name: string, config: UpstreamConfig): Transport {
  if (config.transport === 'stdio') {
    // only the safe defaults of the parent's environment, then what the config declares
    const env = { ...getDefaultEnvironment(), ...config.env };
    // a command that cannot be found is spawned as it is: the agent learns of ENOENT, not of setpriv's exit
    const prefix = commandFound(config.command, config.cwd, env.PATH) ? deathSignal() : null;
    const transport = new StdioClientTransport({
      command: prefix ? prefix[0] : config.command,
      args: prefix ? [...prefix.slice(1), config.command, ...(config.args ?? [])] : config.args,
      env,
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

let deathSignalPrefix: string[] | null | undefined;

/**
 * On Linux, the command line that makes an upstream die with Airlock: util-linux's `setpriv
 * --pdeathsig KILL` sets the signal and then execs the upstream in the same process. Without
 * it an upstream that ignores the end of its stdin (a timer, a socket, a pending call keeps it
 * alive) outlives an Airlock killed with SIGKILL or by the OOM killer, and every restart leaves
 * more of them. Null where there is no such setpriv (other systems, BusyBox): nothing changes.
 */
export function deathSignal(): string[] | null {
  if (deathSignalPrefix !== undefined) return deathSignalPrefix;
  deathSignalPrefix = null;
  if (process.platform !== 'linux') return null;
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const file = join(dir, 'setpriv');
    try {
      accessSync(file, constants.X_OK);
      const help = execFileSync(file, ['--help'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
      if (help.includes('--pdeathsig')) deathSignalPrefix = [file, '--pdeathsig', 'KILL', '--'];
      break;
    } catch {}
  }
  return deathSignalPrefix;
}
