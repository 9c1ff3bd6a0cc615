/**
 * README's quick start, as a new user runs it: `npm start` on the embedded database, the
 * credentials it prints once, an agent on the demo upstream, a reviewer deciding through the
 * JSON API, and SIGTERM (to npm, as a process manager or a terminal sends it) stopping
 * Airlock itself, after which `airlock audit verify` passes on the data it left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CallResult, callText, eventually, root } from '../helpers/airlock';
import { ensureConsoleBuild } from '../helpers/console-build';

type Printed = { url: string; admin: string; password: string; agentToken: string };

describe('quick start: npm start on the embedded database', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'airlock-quick-start-'));
  const { DATABASE_URL: _url, AIRLOCK_DATA_DIR: _dir, PORT: _port, ...inherited } = process.env;
  const env = { ...inherited, AIRLOCK_DATA_DIR: dataDir, PORT: '0', AIRLOCK_LOG_LEVEL: 'info', NEXT_TELEMETRY_DISABLED: '1' };
  let npm: ChildProcess;
  let output = '';
  let printed: Printed;
  let cookie = '';
  let apiToken = '';

  const exited = () => new Promise<number | null>((done) => (npm.exitCode !== null ? done(npm.exitCode) : npm.once('exit', done)));

  beforeAll(async () => {
    // the build `npm start` would make on a first start, shared with the other suites that serve the console
    ensureConsoleBuild();
    // its own process group, so that whatever is left of it can be killed whole at the end
    npm = spawn('npm', ['start'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    npm.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    npm.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    printed = await eventually(() => {
      const url = /console at (http:\/\/\S+)/.exec(output)?.[1];
      const admin = /^ {2}admin +(\S+)$/m.exec(output)?.[1];
      const password = /^ {2}password +(\S+)$/m.exec(output)?.[1];
      const agentToken = /^ {2}agent token +(alk_agent_\S+)$/m.exec(output)?.[1];
      return url && admin && password && agentToken ? { url, admin, password, agentToken } : undefined;
    }, 120_000).catch((error) => {
      throw new Error(`npm start did not print its credentials: ${String(error)}\n${output}`);
    });
  }, 180_000);

  afterAll(async () => {
    if (npm?.pid) {
      try {
        process.kill(-npm.pid, 'SIGKILL');
      } catch {} // the group is gone: every process of it stopped
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  const agent = async () => {
    const client = new Client({ name: 'quick-start-agent', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${printed.url}/mcp/demo`), {
        requestInit: { headers: { Authorization: `Bearer ${printed.agentToken}` } },
      }),
    );
    return client;
  };
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${printed.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${apiToken}`, 'content-type': 'application/json', ...init.headers },
    });
  const pendingTransfer = (memo: string) =>
    eventually(async () => {
      const { items } = (await (await api('/api/approvals?status=pending')).json()) as {
        items: { id: string; tool: string; arguments: { memo?: string } }[];
      };
      return items.find((item) => item.tool === 'transfer_funds' && item.arguments.memo === memo);
    });

  it('the admin signs in to the console with the printed password, and creates an API token there', async () => {
    const csrf = await fetch(`${printed.url}/api/auth/csrf`);
    const { csrfToken } = (await csrf.json()) as { csrfToken: string };
    const jar = csrf.headers.getSetCookie().map((c) => c.split(';')[0]);
    const signIn = await fetch(`${printed.url}/api/auth/callback/credentials`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.join('; '), origin: printed.url },
      body: new URLSearchParams({ csrfToken, email: printed.admin, password: printed.password, json: 'true' }),
    });
    cookie = [...jar, ...signIn.headers.getSetCookie().map((c) => c.split(';')[0])].join('; ');
    expect(cookie).toContain('session-token=');
    const created = await fetch(`${printed.url}/api/tokens`, {
      method: 'POST',
      headers: { cookie, origin: printed.url, 'content-type': 'application/json' },
      body: JSON.stringify({ userEmail: printed.admin, name: 'quick-start' }),
    });
    expect(created.status).toBe(201);
    apiToken = ((await created.json()) as { secret: string }).secret;
  });

  it('an agent’s read-only call passes at once; a transfer is held until approved, then returns its result', async () => {
    const client = await agent();
    const read = (await client.callTool({ name: 'read_file', arguments: { path: '/docs/q3-plan.md' } })) as CallResult;
    expect(read.isError).toBeFalsy();
    expect(callText(read).length).toBeGreaterThan(20);
    const transfer = client.callTool({
      name: 'transfer_funds',
      arguments: { from_account: 'ACC-1001', to_account: 'ACC-3001', amount: 250, currency: 'USD', memo: 'approve me' },
    });
    const held = await pendingTransfer('approve me');
    const decision = await api(`/api/approvals/${held.id}/decision`, { method: 'POST', body: JSON.stringify({ decision: 'approve' }) });
    expect(decision.status).toBe(200);
    const result = (await transfer) as CallResult;
    expect(result.isError).toBeFalsy();
    expect(callText(result)).toContain('250');
    await client.close();
    // the demo company's books are one for every session: the next agent session sees the transfer
    const later = await agent();
    const balance = JSON.parse(callText(await later.callTool({ name: 'get_balance', arguments: { account: 'ACC-1001' } }))) as {
      balance: number;
    };
    expect(balance.balance).toBe(182_340.55 - 250);
    await later.close();
  });

  it('a denied transfer returns the reviewer’s reason to the agent', async () => {
    const client = await agent();
    const transfer = client.callTool({
      name: 'transfer_funds',
      arguments: { from_account: 'ACC-1001', to_account: 'ACC-3001', amount: 9000, currency: 'USD', memo: 'deny me' },
    });
    const held = await pendingTransfer('deny me');
    const reason = 'Too large; ask finance first.';
    expect(
      (await api(`/api/approvals/${held.id}/decision`, { method: 'POST', body: JSON.stringify({ decision: 'deny', reason }) })).status,
    ).toBe(200);
    const result = (await transfer) as CallResult;
    expect(result.isError).toBe(true);
    expect(callText(result)).toContain(reason);
    await client.close();
  });

  it('SIGTERM to npm stops Airlock itself, releasing the data directory; audit verify then passes', async () => {
    npm.kill('SIGTERM');
    expect(await exited()).not.toBeNull();
    // nothing of it keeps serving (a shell between npm and node would have kept the server running)
    await eventually(() =>
      fetch(`${printed.url}/api/health`).then(
        () => false,
        () => true,
      ),
    );
    expect(existsSync(join(dataDir, 'airlock.pid'))).toBe(false);
    const verify = spawn(process.execPath, [join(root, 'bin/airlock.mjs'), 'audit', 'verify'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    verify.stdout.on('data', (chunk) => {
      said += chunk;
    });
    verify.stderr.on('data', (chunk) => {
      said += chunk;
    });
    const code = await new Promise<number | null>((done) => verify.on('close', done));
    expect(said).toMatch(/audit chain intact/);
    expect(code).toBe(0);
  });
});
