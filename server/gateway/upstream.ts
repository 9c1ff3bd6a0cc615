import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { findCommand } from '../config/load';
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
    const prefix = deathSignalPrefix && findCommand(config.command, config.cwd, env.PATH) ? deathSignalPrefix : null;
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

/** What `detectDeathSignal` found: the command line to start stdio upstreams through, or null. */
let deathSignalPrefix: string[] | null = null;
let detection: Promise<string[] | null> | undefined;

/**
 * On Linux, the command line that makes an upstream die with Airlock: util-linux's `setpriv
 * --pdeathsig KILL` sets the signal and then execs the upstream in the same process. Without
 * it an upstream that ignores the end of its stdin (a timer, a socket, a pending call keeps it
 * alive) outlives an Airlock killed with SIGKILL or by the OOM killer, and every restart leaves
 * more of them. Null where there is no such setpriv (other systems, BusyBox): nothing changes.
 * Asked once per process, by the gateway's start, off the path of any session.
 */
export function detectDeathSignal(): Promise<string[] | null> {
  detection ??= (async () => {
    const file = process.platform === 'linux' ? findCommand('setpriv', undefined, process.env.PATH) : null;
    if (!file) return null;
    try {
      const { stdout } = await promisify(execFile)(file, ['--help'], { timeout: 5000 });
      deathSignalPrefix = stdout.includes('--pdeathsig') ? [file, '--pdeathsig', 'KILL', '--'] : null;
    } catch {}
    return deathSignalPrefix;
  })();
  return detection;
}
