/**
 * README's quick start, as a new user runs it: `npm start` on the embedded database, the
 * credentials it prints once, an agent on the demo upstream, a reviewer deciding through the
 * JSON API, and SIGTERM (to npm, as a process manager or a terminal sends it) stopping
 * Airlock itself, after which `airlock audit verify` passes on the data it left.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, root } from '../helpers/airlock';
import { ensureConsoleBuild } from '../helpers/console-build';
import { outputOf } from '../helpers/process';

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

  /** `npx airlock call demo …` as README's quick start runs it, with AIRLOCK_TOKEN and AIRLOCK_URL exported. */
  const airlockCall = (tool: string, args: object) => {
    const child = spawn('npx', ['--no-install', 'airlock', 'call', 'demo', tool, JSON.stringify(args)], {
      cwd: root,
      env: { ...env, AIRLOCK_TOKEN: printed.agentToken, AIRLOCK_URL: printed.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return outputOf(child);
  };
  const transfer = (amount: number, memo: string) =>
    airlockCall('transfer_funds', { from_account: 'ACC-1001', to_account: 'ACC-3001', amount, currency: 'USD', memo });
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
    const read = await airlockCall('read_file', { path: '/docs/q3-plan.md' });
    expect(read).toMatchObject({ code: 0, stderr: '' });
    expect(read.stdout.length).toBeGreaterThan(20);
    const running = transfer(250, 'approve me');
    const held = await pendingTransfer('approve me');
    const decision = await api(`/api/approvals/${held.id}/decision`, { method: 'POST', body: JSON.stringify({ decision: 'approve' }) });
    expect(decision.status).toBe(200);
    const result = await running;
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('250');
    // it said, once, where the call awaited review
    expect(result.stderr.match(new RegExp(`${printed.url}/approvals/${held.id}`, 'g'))).toHaveLength(1);
    // the demo company's books are one for every session: the next call sees the transfer
    const balance = await airlockCall('get_balance', { account: 'ACC-1001' });
    expect((JSON.parse(balance.stdout) as { balance: number }).balance).toBe(182_340.55 - 250);
  });

  it('a denied transfer returns the reviewer’s reason to the agent, and exits 1', async () => {
    const running = transfer(9000, 'deny me');
    const held = await pendingTransfer('deny me');
    const reason = 'Too large; ask finance first.';
    expect(
      (await api(`/api/approvals/${held.id}/decision`, { method: 'POST', body: JSON.stringify({ decision: 'deny', reason }) })).status,
    ).toBe(200);
    const result = await running;
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(reason);
  });

  it('SIGTERM to npm stops Airlock itself, cancelling a held call, audited; audit verify then passes', async () => {
    const running = transfer(75, 'held at shutdown');
    const held = await pendingTransfer('held at shutdown');
    npm.kill('SIGTERM');
    expect(await exited()).toBe(0);
    const result = await running;
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('The call was not executed: Airlock is shutting down.');
    // nothing of it keeps serving (a shell between npm and node would have kept the server running)
    await eventually(() =>
      fetch(`${printed.url}/api/health`).then(
        () => false,
        () => true,
      ),
    );
    expect(existsSync(join(dataDir, 'airlock.pid'))).toBe(false);
    const verify = await outputOf(
      spawn(process.execPath, [join(root, 'bin/airlock.mjs'), 'audit', 'verify'], { env, stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    expect(verify).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^audit chain intact/) });
    // the held call's cancellation is in the log it left
    const exported = spawnSync(process.execPath, [join(root, 'bin/airlock.mjs'), 'audit', 'export'], { env, encoding: 'utf8' });
    const events = exported.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; requestId: string | null });
    expect(events).toContainEqual(expect.objectContaining({ type: 'approval.cancelled', requestId: held.id }));
    expect(events.some((e) => e.type === 'tool.forwarded' && e.requestId === held.id)).toBe(false);
  });
});
