import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openDatabase } from '../../db/client';
import { type Database, query } from '../../db/database';
import { approvalRequests } from '../../db/schema';
import { decide } from '../../server/approvals/decide';
import { searchAudit } from '../../server/audit/search';
import { verifyAuditExport } from '../../server/audit/verify';
import { authenticateAgent } from '../../server/auth/agents';
import { authenticateApiToken } from '../../server/auth/api-tokens';
import { authenticatePassword } from '../../server/auth/users';
import { connect } from '../../server/cli/connect';
import { eventually, type Person, startTestAirlock, type TestAirlock } from '../helpers/airlock';
import { backends, createTestDatabaseUrl } from '../helpers/db';
import { outputOf, type Run } from '../helpers/process';

const BIN = resolve(import.meta.dirname, '../../bin/airlock.mjs');

/** Where the CLI under test keeps its data, and a way for the test to look inside between runs. */
type Target = {
  env: Record<string, string>;
  /** On PGlite the database is opened only between CLI runs: one process at a time. */
  withDb<T>(fn: (db: Database) => Promise<T>): Promise<T>;
  dataDir?: string;
  cleanup(): Promise<void>;
};

async function pgliteTarget(): Promise<Target> {
  const dataDir = mkdtempSync(join(tmpdir(), 'airlock-cli-'));
  return {
    env: { AIRLOCK_DATA_DIR: dataDir },
    dataDir,
    async withDb(fn) {
      const db = await openDatabase({ dataDir });
      try {
        return await fn(db);
      } finally {
        await db.close();
      }
    },
    async cleanup() {
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function postgresTarget(): Promise<Target> {
  const { url, drop } = await createTestDatabaseUrl();
  let db: Database | undefined;
  return {
    env: { DATABASE_URL: url },
    async withDb(fn) {
      db ??= await openDatabase({ url });
      return fn(db);
    },
    async cleanup() {
      await db?.close();
      await drop();
    },
  };
}

function cli(target: Target, args: string[], input?: string): Promise<Run> {
  const { DATABASE_URL: _url, AIRLOCK_DATA_DIR: _dir, ...env } = process.env;
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...env, ...target.env }, stdio: 'pipe' });
  const run = outputOf(child);
  child.stdin.end(input);
  return run;
}

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';

describe.each(backends())('airlock CLI on %s', (backend) => {
  let target: Target;
  beforeAll(async () => {
    target = backend === 'pglite' ? await pgliteTarget() : await postgresTarget();
  });
  afterAll(() => target?.cleanup());

  const counts = () =>
    target.withDb(async (db) => {
      const [row] = await query(
        db.orm,
        sql`select (select count(*)::int from users) as users, (select count(*)::int from agents) as agents,
                   (select count(*)::int from audit_events) as events`,
      );
      return row;
    });

  it('adds a user with the password piped on stdin, audited as the CLI', async () => {
    const run = await cli(
      target,
      ['user', 'add', '--email', 'Owner@Example.com', '--role', 'admin', '--name', 'Owner'],
      'owner password\n',
    );
    // the first command on the embedded database says it created one, and where; later ones say nothing
    expect(run).toMatchObject({
      code: 0,
      stderr: target.dataDir
        ? `airlock: created a new embedded database in ${target.dataDir} (no DATABASE_URL is set; Airlock uses this one when started with the same AIRLOCK_DATA_DIR)\n`
        : '',
    });
    expect(run.stdout).toContain('owner@example.com');
    expect((await cli(target, ['user', 'list'])).stderr).toBe('');
    await target.withDb(async (db) => {
      expect(await authenticatePassword(db, { email: 'owner@example.com', password: 'owner password' })).toMatchObject({ role: 'admin' });
      const [created] = (await searchAudit(db.orm, { type: 'user.created' })).events;
      expect(created).toMatchObject({ actorType: 'system', actorId: 'cli', payload: { email: 'owner@example.com' } });
    });
    const list = await cli(target, ['user', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/owner@example\.com\s+admin\s+active\s+Owner/);
  });

  it('prints the agent token once, as the last line, and the token authenticates', async () => {
    const run = await cli(target, ['agent', 'add', '--name', 'bot', '--owner', 'owner@example.com', '--upstream', 'alpha']);
    expect(run.code).toBe(0);
    const token = lastLine(run.stdout);
    expect(token).toMatch(/^alk_agent_[\w-]+$/);
    await target.withDb(async (db) => {
      await expect(authenticateAgent(db, { token, upstream: 'alpha' })).resolves.toMatchObject({ name: 'bot' });
      await expect(authenticateAgent(db, { token, upstream: 'beta' })).rejects.toMatchObject({ code: 'forbidden' });
    });
    const list = await cli(target, ['agent', 'list']);
    expect(list.stdout).toMatch(/bot\s+owner@example\.com\s+alpha\s+active/);
    expect(list.stdout).not.toContain(token);
  });

  it('prints a personal API token as the last line, and it authenticates as the user', async () => {
    const run = await cli(target, ['token', 'add', '--user', 'owner@example.com', '--name', 'ci']);
    expect(run.code).toBe(0);
    const token = lastLine(run.stdout);
    expect(token).toMatch(/^alk_user_[\w-]+$/);
    await target.withDb(async (db) => {
      await expect(authenticateApiToken(db, token)).resolves.toMatchObject({ email: 'owner@example.com' });
    });
  });

  it('lists personal API tokens without the secrets, and revokes one at once, audited', async () => {
    const added = await cli(target, ['token', 'add', '--user', 'owner@example.com', '--name', 'nightly']);
    const token = lastLine(added.stdout);
    const list = await cli(target, ['token', 'list', '--user', 'owner@example.com', '--json']);
    expect(list.code).toBe(0);
    expect(list.stdout).not.toContain(token);
    const listed = JSON.parse(list.stdout) as { id: string; name: string; userEmail: string; revokedAt: string | null }[];
    const nightly = listed.find((t) => t.name === 'nightly');
    expect(nightly).toMatchObject({ userEmail: 'owner@example.com', revokedAt: null });
    const table = await cli(target, ['token', 'list']);
    expect(table.stdout).toMatch(new RegExp(`${nightly?.id}\\s+nightly\\s+owner@example\\.com\\s+active`));

    const revoke = await cli(target, ['token', 'revoke', '--id', nightly?.id ?? '']);
    expect(revoke.code).toBe(0);
    expect(revoke.stdout).toContain(`revoked API token nightly (${nightly?.id})`);
    await target.withDb(async (db) => {
      await expect(authenticateApiToken(db, token)).rejects.toMatchObject({ code: 'unauthorized' });
      const { events } = await searchAudit(db.orm, { type: 'token.revoked' });
      expect(events[0]).toMatchObject({ actorId: 'cli', payload: { tokenId: nightly?.id, name: 'nightly' } });
    });
    expect((await cli(target, ['token', 'list', '--user', 'owner@example.com'])).stdout).toMatch(/nightly\s+owner@example\.com\s+revoked/);
    const again = await cli(target, ['token', 'revoke', '--id', nightly?.id ?? '']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already revoked/);
  });

  it('revokes an agent, and its token stops working', async () => {
    const added = await cli(target, ['agent', 'add', '--name', 'short-lived', '--owner', 'owner@example.com']);
    const token = lastLine(added.stdout);
    expect((await cli(target, ['agent', 'revoke', '--name', 'short-lived'])).code).toBe(0);
    await target.withDb(async (db) => {
      await expect(authenticateAgent(db, { token, upstream: 'alpha' })).rejects.toMatchObject({ code: 'unauthorized' });
    });
  });

  it.each([
    ['a bad email', ['user', 'add', '--email', 'not-an-email', '--role', 'approver'], 'a password\n', /invalid --email/],
    [
      'an unknown role',
      ['user', 'add', '--email', 'r@example.com', '--role', 'root'],
      'a password\n',
      /Allowed choices are admin, approver, auditor/,
    ],
    ['a missing password', ['user', 'add', '--email', 'p@example.com', '--role', 'approver'], '', /no password on stdin/],
    ['a short password', ['user', 'add', '--email', 'p@example.com', '--role', 'approver'], 'short\n', /at least 8 characters/],
    ['a taken email', ['user', 'add', '--email', 'owner@example.com', '--role', 'auditor'], 'a password\n', /already exists/],
    ['an unknown owner', ['agent', 'add', '--name', 'orphan', '--owner', 'ghost@example.com'], undefined, /no user with email/],
    ['a bad agent name', ['agent', 'add', '--name', 'bad name', '--owner', 'owner@example.com'], undefined, /names are 1-64/],
    ['an unknown agent', ['agent', 'revoke', '--name', 'nobody'], undefined, /no agent nobody/],
    ['an unknown API token', ['token', 'revoke', '--id', 'no-such-token'], undefined, /no API token no-such-token/],
    ['tokens of an unknown user', ['token', 'list', '--user', 'ghost@example.com'], undefined, /no user with email ghost@example\.com/],
  ])('refuses %s with a clear message, changing nothing', async (_label, args, input, message) => {
    const before = await counts();
    const run = await cli(target, args, input);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/unexpected error|at .*\.ts:\d+/);
    expect(await counts()).toEqual(before);
  });

  describe('audit', () => {
    beforeAll(async () => {
      // enough rows that a tampered one sits in the middle of the chain
      await cli(target, ['user', 'add', '--email', 'second@example.com', '--role', 'auditor', '--no-password']);
    });

    it('verify exits 0 with the count and the head hash on an intact chain', async () => {
      const run = await cli(target, ['audit', 'verify']);
      expect(run.code).toBe(0);
      const events = await counts();
      expect(run.stdout.trim()).toMatch(new RegExp(`^audit chain intact: ${events.events} events, head ${events.events}:[0-9a-f]{64}$`));
    });

    it('export writes JSON lines that verify offline', async () => {
      const file = join(tmpdir(), `airlock-export-${process.pid}-${backend}.jsonl`);
      try {
        const run = await cli(target, ['audit', 'export', '--out', file]);
        expect(run.code).toBe(0);
        expect(statSync(file).mode & 0o777).toBe(0o600);
        const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
        expect(lines.length).toBe((await counts()).events);
        const result = await verifyAuditExport(createInterface({ input: createReadStream(file) }));
        expect(result).toMatchObject({ ok: true, count: lines.length });
        const toStdout = await cli(target, ['audit', 'export']);
        expect(toStdout.stdout.trimEnd().split('\n')).toEqual(lines);
      } finally {
        rmSync(file, { force: true });
      }
    });

    // reading a file needs no database: once is enough
    it.runIf(backend === 'pglite')(
      'verify --file checks an export without the database, and --checkpoint catches rows cut off its end',
      async () => {
        const dir = mkdtempSync(join(tmpdir(), 'airlock-export-'));
        const file = join(dir, 'audit.jsonl');
        try {
          // a few rows of its own, whichever tests ran before
          for (const n of [1, 2])
            await cli(target, ['user', 'add', '--email', `export-${n}@example.com`, '--role', 'auditor', '--no-password']);
          expect((await cli(target, ['audit', 'export', '--out', file])).code).toBe(0);
          const head = /head (\d+:[0-9a-f]{64})$/.exec((await cli(target, ['audit', 'verify'])).stdout.trim())?.[1] ?? '';
          // no database at all: the file is all it reads
          const noDb = { ...target, env: { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', AIRLOCK_DATA_DIR: join(dir, 'none') } };
          const whole = await cli(noDb, ['audit', 'verify', '--file', file, '--checkpoint', head]);
          expect(whole).toMatchObject({ code: 0, stderr: '' });
          expect(whole.stdout.trim()).toBe(`audit chain intact: ${head.split(':')[0]} events, head ${head}`);
          expect((await cli(noDb, ['audit', 'verify', '--file', '-'], readFileSync(file, 'utf8'))).code).toBe(0);

          const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
          const cut = join(dir, 'cut.jsonl');
          writeFileSync(cut, `${lines.slice(0, -1).join('\n')}\n`);
          // the chain alone cannot tell a shorter log from an older one; the checkpoint can
          expect((await cli(noDb, ['audit', 'verify', '--file', cut])).code).toBe(0);
          const truncated = await cli(noDb, ['audit', 'verify', '--file', cut, '--checkpoint', head]);
          expect(truncated.code).toBe(1);
          expect(truncated.stderr).toMatch(
            new RegExp(`BROKEN at seq ${lines.length}: the log ends at row ${lines.length - 1}, before the checkpoint`),
          );

          const edited = join(dir, 'edited.jsonl');
          const second = JSON.parse(lines[1]) as { payload: unknown };
          writeFileSync(
            edited,
            [lines[0], JSON.stringify({ ...second, payload: { email: 'mallory@example.com' } }), ...lines.slice(2)].join('\n'),
          );
          const tampered = await cli(noDb, ['audit', 'verify', '--file', edited]);
          expect(tampered.code).toBe(1);
          expect(tampered.stderr).toMatch(/BROKEN at seq 2: .*hash does not match its content/);

          for (const bad of ['latest', `0:${'f'.repeat(64)}`, `12:${'f'.repeat(63)}`]) {
            const badCheckpoint = await cli(noDb, ['audit', 'verify', '--file', file, '--checkpoint', bad]);
            expect(badCheckpoint, bad).toMatchObject({ code: 1, stderr: expect.stringContaining('invalid --checkpoint: give SEQ:HASH') });
          }
          // an empty file (a failed export) is not an intact log, nor is a directory a file
          const empty = join(dir, 'empty.jsonl');
          writeFileSync(empty, '');
          expect(await cli(noDb, ['audit', 'verify', '--file', empty])).toMatchObject({
            code: 1,
            stderr: `airlock: no audit events in ${empty} (an empty or failed export?)\n`,
          });
          const directory = await cli(noDb, ['audit', 'verify', '--file', dir]);
          expect(directory).toMatchObject({ code: 1, stderr: expect.stringMatching(new RegExp(`^airlock: cannot read ${dir}: .*EISDIR`)) });
          const missing = await cli(noDb, ['audit', 'verify', '--file', join(dir, 'nope.jsonl')]);
          expect(missing).toMatchObject({ code: 1, stderr: expect.stringContaining(`cannot read ${join(dir, 'nope.jsonl')}`) });
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    );

    /** Edit the log behind the triggers' back (as a superuser could), run `audit verify`, then put it back. */
    async function verifyAfterTampering(...statements: ReturnType<typeof sql>[]): Promise<Run> {
      await target.withDb((db) =>
        db.orm.transaction(async (tx) => {
          await tx.execute(sql`create table audit_backup as select * from audit_events`);
          await tx.execute(sql`alter table audit_events disable trigger user`);
          for (const statement of statements) await tx.execute(statement);
          await tx.execute(sql`alter table audit_events enable trigger user`);
        }),
      );
      try {
        return await cli(target, ['audit', 'verify']);
      } finally {
        await target.withDb((db) =>
          db.orm.transaction(async (tx) => {
            await tx.execute(sql`alter table audit_events disable trigger user`);
            await tx.execute(sql`delete from audit_events`);
            await tx.execute(sql`insert into audit_events select * from audit_backup`);
            await tx.execute(sql`alter table audit_events enable trigger user`);
            await tx.execute(sql`drop table audit_backup`);
          }),
        );
        expect((await cli(target, ['audit', 'verify'])).code).toBe(0);
      }
    }

    it('verify exits 1 naming an edited row', async () => {
      const run = await verifyAfterTampering(sql`update audit_events set payload = '{"email":"mallory@example.com"}' where seq = 2`);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/BROKEN at seq 2: .*hash does not match its content/);
      expect(run.stdout).toBe('');
    });

    it('verify exits 1 naming a deleted row', async () => {
      const run = await verifyAfterTampering(sql`delete from audit_events where seq = 2`);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/BROKEN at seq 2: row 2 missing/);
    });

    it('verify exits 1 naming a row slipped in before the chain’s first', async () => {
      const run = await verifyAfterTampering(
        sql`insert into audit_events (seq, id, at, type, actor_type, actor_id, payload, prev_hash, hash)
            select 0, 'forged', at, 'approval.decided', actor_type, actor_id, payload, prev_hash, hash from audit_events where seq = 1`,
      );
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/BROKEN at seq 0: row 0: the chain starts at row 1/);
    });

    it('verify exits 1 naming the first of two swapped rows', async () => {
      const run = await verifyAfterTampering(
        sql`update audit_events set seq = -1 where seq = 2`,
        sql`update audit_events set seq = 2 where seq = 3`,
        sql`update audit_events set seq = 3 where seq = -1`,
      );
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/BROKEN at seq 2: .*prev_hash does not match row 1/);
    });
  });

  it.runIf(backend === 'pglite')('refuses with exit 2 while another process holds the embedded database', async () => {
    const lock = join(target.dataDir ?? '', 'airlock.pid');
    // this test process is alive, so its pid marks the data dir as in use (as a running server would)
    writeFileSync(lock, String(process.pid));
    try {
      const run = await cli(target, ['user', 'list']);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/in use by process \d+: stop the server first, or set DATABASE_URL/);
      expect(run.stdout).toBe('');
    } finally {
      rmSync(lock, { force: true });
    }
  });
});

/** A stand-in for the gateway's /mcp/<upstream> endpoint: one MCP session, bearer token checked. */
async function fakeGateway(token: string) {
  const requests: { method?: string; protocolVersion?: string }[] = [];
  const mcp = new McpServer({ name: 'fake-gateway', version: '1.0.0' });
  mcp.registerTool('echo', { description: 'echo the text', inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID() });
  await mcp.connect(transport);
  const server = createServer((req, res) => {
    requests.push({ method: req.method, protocolVersion: req.headers['mcp-protocol-version'] as string | undefined });
    if (req.url !== '/mcp/demo') return void res.writeHead(404).end();
    if (req.headers.authorization !== `Bearer ${token}`) return void res.writeHead(401).end();
    void transport.handleRequest(req, res);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    async close() {
      await mcp.close();
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    },
  };
}

/** `airlock connect` as a stdio host would run it; every stdout line must be a JSON-RPC message. */
function bridge(url: string, token: string, upstream = 'demo') {
  const child = spawn(process.execPath, [BIN, 'connect', upstream, '--url', url], {
    env: { ...process.env, AIRLOCK_TOKEN: token },
    stdio: 'pipe',
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const received: Record<string, unknown>[] = [];
  const waiting: ((message: Record<string, unknown>) => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const message = JSON.parse(line) as Record<string, unknown>;
    expect(message.jsonrpc).toBe('2.0');
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else received.push(message);
  });
  const exited = new Promise<number | null>((done) => child.on('close', done));
  return {
    send: (message: object) => child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`),
    write: (text: string) => child.stdin.write(text),
    next: () => {
      const queued = received.shift();
      return queued ? Promise.resolve(queued) : new Promise<Record<string, unknown>>((done) => waiting.push(done));
    },
    end: () => child.stdin.end(),
    closeStdout: () => child.stdout.destroy(),
    exited,
    stderr: () => stderr,
  };
}

describe('airlock connect', () => {
  const initialize = {
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'stdio-host', version: '1.0.0' } },
  };

  it('relays JSON-RPC both ways between stdio and the gateway, and exits 0 when stdin closes', async () => {
    const gateway = await fakeGateway('alk_agent_good');
    try {
      const host = bridge(gateway.url, 'alk_agent_good');
      host.send(initialize);
      expect(await host.next()).toMatchObject({ id: 1, result: { protocolVersion: '2025-06-18', serverInfo: { name: 'fake-gateway' } } });
      host.send({ method: 'notifications/initialized' });
      host.send({ id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'through the airlock' } } });
      expect(await host.next()).toMatchObject({ id: 2, result: { content: [{ type: 'text', text: 'through the airlock' }] } });
      host.send({ id: 3, method: 'tools/call', params: { name: 'nope', arguments: {} } });
      expect(await host.next()).toMatchObject({ id: 3 });
      host.end();
      expect(await host.exited).toBe(0);
      // after initialize, every request names the negotiated protocol version; the session is closed on exit
      const posts = gateway.requests.filter((r) => r.method === 'POST');
      expect(posts.slice(1).every((r) => r.protocolVersion === '2025-06-18')).toBe(true);
      expect(gateway.requests.some((r) => r.method === 'DELETE')).toBe(true);
    } finally {
      await gateway.close();
    }
  });

  it('exits 0, closing the session, when the host stops reading its stdout', async () => {
    const gateway = await fakeGateway('alk_agent_good');
    try {
      const host = bridge(gateway.url, 'alk_agent_good');
      host.send(initialize);
      await host.next();
      host.send({ method: 'notifications/initialized' });
      host.closeStdout();
      // its answer meets a closed pipe (EPIPE)
      host.send({ id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'nobody reads this' } } });
      expect(await host.exited).toBe(0);
      expect(host.stderr()).toBe('');
      expect(gateway.requests.some((r) => r.method === 'DELETE')).toBe(true);
    } finally {
      await gateway.close();
    }
  });

  it('exits 1 with a clear message when the gateway refuses the token', async () => {
    const gateway = await fakeGateway('alk_agent_good');
    try {
      const host = bridge(gateway.url, 'alk_agent_revoked');
      host.send(initialize);
      expect(await host.exited).toBe(1);
      expect(host.stderr()).toMatch(/refused the agent token \(401\)/);
    } finally {
      await gateway.close();
    }
  });

  it('refuses to start without a token', async () => {
    const host = bridge('http://127.0.0.1:9', '');
    expect(await host.exited).toBe(1);
    expect(host.stderr()).toMatch(/agent token is required/);
  });
});

/** A TCP relay to `target` whose connections a test can cut, as a restarting proxy or NAT would. */
async function severableProxy(target: string) {
  const { port, hostname } = new URL(target);
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket)).on('error', () => {});
  };
  const server = createTcpServer((client) => {
    const upstream = tcpConnect(Number(port), hostname);
    track(client);
    track(upstream);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sever: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((done) => server.close(done));
    },
  };
}

describe('airlock connect through Airlock', () => {
  let h: TestAirlock;
  let token: string;
  beforeAll(async () => {
    h = await startTestAirlock('pglite', { rules: [{ id: 'payments', tool: 'pay', action: 'require_approval', timeoutSeconds: 60 }] });
    token = await h.agent((await h.person('approver')).email);
  });
  afterAll(() => h?.close());

  const initialize = {
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'stdio-host', version: '1.0.0' } },
  };
  const lookup = (id: number, key: string) => ({ id, method: 'tools/call', params: { name: 'lookup', arguments: { key } } });
  /** The next message that answers a request (notifications skipped). */
  const answer = async (host: ReturnType<typeof bridge>) => {
    for (;;) {
      const message = await host.next();
      if ('id' in message && ('result' in message || 'error' in message)) return message;
    }
  };

  it('starts a new session when the gateway no longer knows its own (404), and the host carries on', async () => {
    const host = bridge(h.url, token, 'fixture');
    host.send(initialize);
    await answer(host);
    host.send({ method: 'notifications/initialized' });
    host.send(lookup(2, 'before'));
    expect(await answer(host)).toMatchObject({ id: 2, result: { content: [{ text: 'value of before' }] } });
    const [first] = (await searchAudit(h.t.database.orm, { type: 'tool.allowed', limit: 1 })).events;
    // the gateway ends the session, as it does when one is idle past sessions.idleMinutes or when it restarts
    await h.airlock.gateway.session(first.sessionId ?? '')?.close('closed by the test');
    host.send(lookup(3, 'after'));
    expect(await answer(host)).toMatchObject({ id: 3, result: { content: [{ text: 'value of after' }] } });
    expect(host.stderr()).toContain('no longer knows this session (404); starting a new one');
    const [second] = (await searchAudit(h.t.database.orm, { type: 'tool.allowed', limit: 1 })).events;
    expect(second.sessionId).not.toBe(first.sessionId);
    host.end();
    expect(await host.exited).toBe(0);
  });

  it('answers a held call whose connection drops with an error, rather than leaving the host waiting', async () => {
    const proxy = await severableProxy(h.url);
    try {
      const host = bridge(proxy.url, token, 'fixture');
      host.send(initialize);
      await answer(host);
      host.send({ method: 'notifications/initialized' });
      host.send({ id: 2, method: 'tools/call', params: { name: 'pay', arguments: { to: 'dropped', amount: 1 } } });
      const request = await h.pending({ tool: 'pay' });
      // its answer's stream is open: the gateway has said the call awaits approval
      expect(await host.next()).toMatchObject({ method: 'notifications/message' });
      proxy.sever();
      const lost = await answer(host);
      expect(lost).toMatchObject({ id: 2, error: { code: -32000 } });
      expect((lost.error as { message: string }).message).toContain('ended before its answer');
      // the gateway saw the agent go: the call is cancelled, and never runs
      await eventually(async () => {
        const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
        return row.status === 'cancelled';
      });
      expect(h.executions().filter((e) => e.tool === 'pay')).toEqual([]);
      host.end();
      expect(await host.exited).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it('sends a cancellation after its call, even when the host writes both at once', async () => {
    const host = bridge(h.url, token, 'fixture');
    host.send(initialize);
    await answer(host);
    host.send({ method: 'notifications/initialized' });
    const call = { jsonrpc: '2.0', id: 'at-once', method: 'tools/call', params: { name: 'pay', arguments: { to: 'at-once', amount: 1 } } };
    const cancel = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'at-once', reason: 'changed my mind' } };
    host.write(`${JSON.stringify(call)}\n${JSON.stringify(cancel)}\n`);
    // the gateway got the cancellation after the call: it ends cancelled, and never runs
    const row = await eventually(async () => {
      const rows = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.tool, 'pay'));
      return rows.find((r) => (r.arguments as { to?: string }).to === 'at-once' && r.status !== 'pending');
    });
    expect(row.status).toBe('cancelled');
    expect(h.executions().filter((e) => e.tool === 'pay')).toEqual([]);
    host.end();
    expect(await host.exited).toBe(0);
  });

  it('answers every line it cannot relay as a request, rather than dropping it', async () => {
    const host = bridge(h.url, token, 'fixture');
    host.send(initialize);
    await answer(host);
    host.send({ method: 'notifications/initialized' });
    host.write('this is not JSON\n');
    expect(await answer(host)).toMatchObject({ id: null, error: { code: -32700 } });
    // a key JSON-RPC does not define: the gateway judges it, and the host gets its answer
    host.send({ id: 7, method: 'tools/list', params: {}, 'x-trace': 'abc' });
    expect(await answer(host)).toMatchObject({ id: 7, error: { code: -32000 } });
    host.send(lookup(8, 'still here'));
    expect(await answer(host)).toMatchObject({ id: 8, result: { content: [{ text: 'value of still here' }] } });
    host.end();
    expect(await host.exited).toBe(0);
  });

  it('ends with exit code 1, not a crash, when its stdin fails', async () => {
    const stdin = new PassThrough();
    const said: string[] = [];
    const running = connect({ upstream: 'fixture', url: h.url, token, stdin, stdout: new PassThrough(), log: (line) => said.push(line) });
    stdin.emit('error', Object.assign(new Error('i/o error'), { code: 'EIO' }));
    expect(await running.done).toBe(1);
    expect(said.join('\n')).toContain('stdin: i/o error');
    // and one more once it has ended: still heard, not thrown
    expect(() => stdin.emit('error', new Error('later i/o error'))).not.toThrow();
  });

  it('passes on the gateway’s own reason when it refuses a request', async () => {
    const host = bridge(h.url, token, 'no-such-upstream');
    host.send(initialize);
    const refused = await answer(host);
    expect(refused).toMatchObject({ id: 1, error: { code: -32000 } });
    expect((refused.error as { message: string }).message).toMatch(/did not accept the request: .*no-such-upstream/);
    host.end();
    await host.exited;
  });
});

describe('airlock call', () => {
  let h: TestAirlock;
  let token: string;
  let reviewer: Person;
  beforeAll(async () => {
    h = await startTestAirlock('pglite', {
      rules: [{ id: 'payments', tool: 'pay', action: 'require_approval', timeoutSeconds: 60, reason: 'payments need a human' }],
      upstreams: { broken: { transport: 'stdio', command: process.execPath, args: ['-e', 'process.exit(3)'] } },
    });
    const owner = await h.person('approver');
    reviewer = await h.person('approver');
    token = await h.agent(owner.email);
  });
  afterAll(() => h?.close());

  const noDb: Target = { env: {}, withDb: () => Promise.reject(new Error('no database')), cleanup: async () => {} };
  const call = (tool: string, args: object, ...extra: string[]) =>
    cli(noDb, ['call', 'fixture', tool, JSON.stringify(args), '--url', h.url, '--token', token, ...extra]);
  const paid = (to: string) => h.executions().filter((e) => e.tool === 'pay' && (e.args as { to?: string }).to === to);
  /** The approval request of a pay call to `to`, whatever its status. */
  const requestFor = (to: string) =>
    eventually(async () => {
      const rows = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.tool, 'pay'));
      return rows.find((row) => (row.arguments as { to?: string }).to === to);
    });
  /** Ended by the CLI itself (notifications/cancelled or DELETE), not only by its connection dropping. */
  const cancelledByTheCli = ['the agent cancelled the call', 'the agent closed its session'];

  it('prints a read-only tool’s result and exits 0, ending its MCP session', async () => {
    const run = await call('lookup', { key: 'k1' });
    expect(run).toMatchObject({ code: 0, stdout: 'value of k1\n', stderr: '' });
    const [allowed] = (await searchAudit(h.t.database.orm, { type: 'tool.allowed', limit: 1 })).events;
    expect(allowed.sessionId).toBeTruthy();
    await eventually(() => h.airlock.gateway.session(allowed.sessionId ?? '') === undefined);
  });

  it('a denied call prints the reason, exits 1, and says once that it awaits approval', async () => {
    const running = call('pay', { to: 'cli-deny', amount: 5 });
    const request = await h.pending({ tool: 'pay' });
    // several progress notifications (every 200 ms here) carry the same line
    await new Promise((r) => setTimeout(r, 1000));
    await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'deny', reason: 'not this month' });
    const run = await running;
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('not this month');
    expect(run.stderr.match(/awaits human approval/g)).toHaveLength(1);
    expect(paid('cli-deny')).toHaveLength(0);
  });

  it('an approved call prints the tool’s result and exits 0', async () => {
    const running = call('pay', { to: 'cli-approve', amount: 6 });
    const request = await h.pending({ tool: 'pay' });
    await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' });
    expect(await running).toMatchObject({ code: 0, stdout: 'paid 6 to cli-approve\n' });
    expect(paid('cli-approve')).toHaveLength(1);
  });

  it('--wait gives up: the held call is cancelled in Airlock, cannot be approved, never runs, and the session ends', async () => {
    const run = await call('pay', { to: 'cli-wait', amount: 7 }, '--wait', '0.1');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no answer within 0.1 min: the call was cancelled');
    const request = await requestFor('cli-wait');
    const row = await eventually(async () => {
      const [found] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
      return found.status === 'cancelled' && found;
    });
    expect(cancelledByTheCli).toContain(row.reason);
    await expect(decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' })).rejects.toMatchObject({
      code: 'conflict',
    });
    await eventually(() => h.airlock.gateway.session(request.sessionId) === undefined);
    expect(paid('cli-wait')).toHaveLength(0);
  });

  it('Ctrl-C cancels the held call and ends the session before exiting 130', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'call', 'fixture', 'pay', '{"to":"cli-interrupt","amount":8}', '--url', h.url, '--token', token],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const run = outputOf(child);
    const request = await h.pending({ tool: 'pay' });
    child.kill('SIGINT');
    const { code, stderr } = await run;
    expect(code).toBe(130);
    expect(stderr).toContain('interrupted: the call was cancelled');
    const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
    expect(row.status).toBe('cancelled');
    expect(cancelledByTheCli).toContain(row.reason);
    expect(h.airlock.gateway.session(request.sessionId)).toBeUndefined();
    expect(paid('cli-interrupt')).toHaveLength(0);
  });

  it('refuses a --wait that is not a number of minutes a timer can count', async () => {
    for (const wait of ['0', 'soon', '40000']) {
      const run = await call('lookup', { key: 'k' }, '--wait', wait);
      expect(run, wait).toMatchObject({
        code: 1,
        stdout: '',
        stderr: 'airlock: invalid --wait: give minutes, more than 0 and at most 34000\n',
      });
    }
  });

  it('names the address it cannot reach, and a refused token', async () => {
    // a port nothing listens on
    const closed = createServer();
    const port = await new Promise<number>((done) => closed.listen(0, '127.0.0.1', () => done((closed.address() as AddressInfo).port)));
    await new Promise((done) => closed.close(done));
    const unreachable = await cli(noDb, ['call', 'fixture', 'lookup', '{}', '--url', `http://127.0.0.1:${port}`, '--token', token]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toBe(`airlock: cannot reach Airlock at http://127.0.0.1:${port}/mcp/fixture: ECONNREFUSED\n`);
    const refused = await cli(noDb, ['call', 'fixture', 'lookup', '{}', '--url', h.url, '--token', 'alk_agent_nope']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`airlock: Airlock refused the agent token at ${h.url}/mcp/fixture (401: unknown or revoked agent token)\n`);
    // a JSON-RPC refusal of initialize is not an HTTP status
    const broken = await cli(noDb, ['call', 'broken', 'anything', '{}', '--url', h.url, '--token', token]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(
      new RegExp(`^airlock: Airlock could not open a session at ${h.url}/mcp/broken: MCP error -\\d+: .*upstream broken`),
    );
  });
});

describe('audit verify on a database with no events', () => {
  it('fails: the wrong data directory or database is not an intact log', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'airlock-cli-empty-'));
    try {
      const run = await cli({ env: { AIRLOCK_DATA_DIR: dataDir } } as unknown as Target, ['audit', 'verify']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('no audit events in this database (the wrong DATABASE_URL or data directory, or a wiped log?)');
      expect(run.stdout).toBe('');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
