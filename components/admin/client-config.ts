/**
 * Ready-to-paste MCP client configurations for an agent token. Pure (no server or browser
 * APIs): the Agents page shows them after creating an agent, the Queue's empty state too.
 */

export type ClientConfigOptions = {
  /** Airlock's public base URL, e.g. https://airlock.example.com (a trailing slash is ignored). */
  publicUrl: string;
  /** The upstream the agent reaches, as in /mcp/<upstream>. */
  upstream: string;
  /** The agent's bearer token (or a placeholder such as `<agent token>`). */
  token: string;
  /** The agent's name, used in comments. */
  agentName: string;
};

export type ClientConfig = {
  /** Which host or form, e.g. "Cursor (~/.cursor/mcp.json)". */
  label: string;
  language: 'json' | 'shell';
  text: string;
  /** A caveat worth reading before pasting. */
  note?: string;
};

/**
 * `npx --no-install` never fetches from the registry: the npm name "airlock" belongs to an
 * unrelated package, which must not be run with the agent token in its environment.
 */
const BRIDGE_NOTE =
  'For hosts that only launch stdio servers. Needs this Airlock installed where npx finds it (the project directory or npm install -g); --no-install stops npx from fetching an unrelated "airlock" package from the registry.';

/** Configurations for common MCP hosts: Streamable HTTP where the host speaks it, else the stdio bridge. */
export function clientConfigs({ publicUrl, upstream, token, agentName }: ClientConfigOptions): ClientConfig[] {
  const base = publicUrl.replace(/\/+$/, '');
  const url = `${base}/mcp/${encodeURIComponent(upstream)}`;
  const key = `airlock-${upstream}`;
  const headers = { Authorization: `Bearer ${token}` };
  const json = (value: unknown) => JSON.stringify(value, null, 2);
  const bridgeArgs = ['--no-install', 'airlock', 'connect', upstream, '--url', base];
  return [
    {
      label: 'mcp.json (generic, Claude Code .mcp.json)',
      language: 'json',
      text: json({ mcpServers: { [key]: { type: 'http', url, headers } } }),
    },
    {
      label: 'Cursor (~/.cursor/mcp.json)',
      language: 'json',
      text: json({ mcpServers: { [key]: { url, headers } } }),
    },
    {
      label: 'VS Code (.vscode/mcp.json)',
      language: 'json',
      text: json({ servers: { [key]: { type: 'http', url, headers } } }),
    },
    {
      label: 'Claude Desktop (claude_desktop_config.json, stdio bridge)',
      language: 'json',
      text: json({ mcpServers: { [key]: { command: 'npx', args: bridgeArgs, env: { AIRLOCK_TOKEN: token } } } }),
      note: BRIDGE_NOTE,
    },
    {
      label: 'Any stdio host (command line)',
      language: 'shell',
      text: `# agent ${plain(agentName)} → upstream ${plain(upstream)}\nAIRLOCK_TOKEN=${shellQuote(token)} npx ${bridgeArgs.map(shellQuote).join(' ')}`,
      note: BRIDGE_NOTE,
    },
  ];
}

/** Names in a shell comment: a newline would end the comment and start a command. */
function plain(value: string): string {
  return value.replace(/[^\w.@-]+/g, '_');
}

/** Quote for POSIX shells only when needed, so the usual snippet stays readable. */
function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
