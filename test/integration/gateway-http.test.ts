import { request } from 'node:http';
import { connect } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalRequests } from '../../db/schema';
import { decide } from '../../server/approvals/decide';
import { revokeAgent } from '../../server/auth/agents';
import { eventually, startTestAirlock, type TestAirlock } from '../helpers/airlock';
import { backends } from '../helpers/db';

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

const mcpHeaders = (token?: string, extra: Record<string, string> = {}) => ({
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  ...(token ? { authorization: `Bearer ${token}` } : {}),
  ...extra,
});

describe.each(backends())('gateway HTTP front on %s', (backend) => {
  let h: TestAirlock;
  let token: string;
  let otherToken: string;

  beforeAll(async () => {
    h = await startTestAirlock(
      backend,
      { upstreams: { other: { transport: 'stdio', command: process.execPath, args: ['-e', 'process.exit(3)'] } } },
      // headers wait for the first event however slow this machine is: the one-write tests check that, not speed
      { gateway: { headersWaitMs: 30_000 } },
    );
    const owner = await h.person('approver');
    token = await h.agent(owner.email, 'fixture-only', ['fixture']);
    otherToken = await h.agent(owner.email, 'other-only', ['other']);
  });
  afterAll(() => h?.close());

  const post = (body: unknown, token?: string, headers: Record<string, string> = {}, upstream = 'fixture') =>
    fetch(`${h.url}/mcp/${upstream}`, {
      method: 'POST',
      headers: mcpHeaders(token, headers),
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('refuses a missing token with 401 and never starts the upstream', async () => {
    const response = await post(initialize);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('Bearer');
    expect((await response.json()).error.message).toMatch(/agent token/);
    expect(h.executions()).toEqual([]);
  });

  it('refuses a wrong token with 401 and never starts the upstream', async () => {
    const response = await post(initialize, 'alk_agent_not-a-real-token-at-all');
    expect(response.status).toBe(401);
    expect(h.executions()).toEqual([]);
  });

  it('refuses a revoked token', async () => {
    const owner = await h.person('approver');
    const revoked = await h.agent(owner.email, 'revoked-agent');
    await revokeAgent(h.t.database, { name: 'revoked-agent' });
    expect((await post(initialize, revoked)).status).toBe(401);
  });

  it('refuses an agent limited to another upstream with 403', async () => {
    const response = await post(initialize, otherToken);
    expect(response.status).toBe(403);
    expect(h.executions()).toEqual([]);
  });

  it('answers an unknown upstream with 404, including names of object properties', async () => {
    const response = await post(initialize, token, {}, 'nope');
    expect(response.status).toBe(404);
    expect((await response.json()).error.message).toContain('unknown upstream');
    const owner = await h.person('approver');
    const any = await h.agent(owner.email, 'prototype-prober');
    for (const name of ['constructor', 'toString', '__proto__']) expect((await post(initialize, any, {}, name)).status).toBe(404);
    expect((await post(initialize, any, {}, '%E0%A4%A')).status).toBe(400);
  });

  it('answers malformed JSON with a JSON-RPC parse error', async () => {
    const response = await post('{"jsonrpc": "2.0", "id": 1, "method":', token);
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe(-32700);
  });

  it('answers a body that is JSON but not JSON-RPC with a clear error', async () => {
    const response = await post({ hello: 'world' }, token);
    expect(response.status).toBe(400);
    expect((await response.json()).error.message).toBeTruthy();
  });

  it('refuses a body over 1 MiB with 413', async () => {
    const big = { ...initialize, params: { ...initialize.params, padding: 'x'.repeat(1024 * 1024 + 1) } };
    const response = await post(big, token);
    expect(response.status).toBe(413);
  });

  it('refuses a foreign Origin or Host (DNS rebinding)', async () => {
    expect((await post(initialize, token, { origin: 'http://evil.example' })).status).toBe(403);
    // fetch may not set Host: send it with node:http, as a rebinding browser would
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${h.url}/mcp/fixture`);
      const req = request(url, { method: 'POST', headers: { ...mcpHeaders(token), host: `evil.example:${url.port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(JSON.stringify(initialize));
    });
    expect(status).toBe(403);
  });

  it('answers a request without a session with 400 and an unknown session with 404', async () => {
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
    expect((await post(list, token)).status).toBe(400);
    expect((await post(list, token, { 'mcp-session-id': 'no-such-session', 'mcp-protocol-version': '2025-06-18' })).status).toBe(404);
  });

  it('does not let one agent use another agent’s session', async () => {
    const owner = await h.person('approver');
    const mine = await h.agent(owner.email, 'session-owner');
    const theirs = await h.agent(owner.email, 'session-thief');
    const client = await h.connect(mine);
    const sessionId = (client.transport as { sessionId?: string }).sessionId ?? '';
    const response = await post({ jsonrpc: '2.0', id: 2, method: 'tools/list' }, theirs, {
      'mcp-session-id': sessionId,
      'mcp-protocol-version': '2025-06-18',
    });
    expect(response.status).toBe(404);
  });

  it('reports an upstream that cannot start as an error on initialize', async () => {
    const owner = await h.person('approver');
    const any = await h.agent(owner.email, 'any-upstream');
    const response = await post(initialize, any, {}, 'other');
    const body = await response.text();
    expect(body).toMatch(/"error"/);
  });

  /** A whole HTTP response: its headers and all of its body, by Content-Length or chunked encoding. */
  const wholeResponse = (text: string) => {
    const headerEnd = text.indexOf('\r\n\r\n');
    if (headerEnd < 0) return false;
    const body = text.slice(headerEnd + 4);
    const length = /^content-length: *(\d+)\r?$/im.exec(text.slice(0, headerEnd));
    return length ? Buffer.byteLength(body) >= Number(length[1]) : body.endsWith('\r\n0\r\n\r\n');
  };

  /** POST over a raw socket; resolves with the chunks read, once `until` matches what arrived. */
  const rawPost = (sessionId: string, body: unknown, until: RegExp | ((received: string) => boolean)) =>
    new Promise<string[]>((resolve, reject) => {
      const text = JSON.stringify(body);
      const { host } = new URL(h.url);
      const socket = connect(Number(new URL(h.url).port), '127.0.0.1');
      const chunks: string[] = [];
      socket.setTimeout(10_000, () => socket.destroy(new Error(`no ${until} within 10 s; got ${JSON.stringify(chunks)}`)));
      socket.on('error', reject);
      socket.on('data', (chunk) => {
        chunks.push(chunk.toString());
        const received = chunks.join('');
        if (typeof until === 'function' ? until(received) : until.test(received)) {
          socket.destroy();
          resolve(chunks);
        }
      });
      socket.write(
        [
          `POST /mcp/fixture HTTP/1.1`,
          `host: ${host}`,
          `authorization: Bearer ${token}`,
          'content-type: application/json',
          'accept: application/json, text/event-stream',
          `mcp-session-id: ${sessionId}`,
          'mcp-protocol-version: 2025-06-18',
          `content-length: ${Buffer.byteLength(text)}`,
          '',
          text,
        ].join('\r\n'),
      );
    });

  it('sends a call answered at once in one write, as one JSON body', async () => {
    const client = await h.connect(token);
    const sessionId = (client.transport as { sessionId?: string }).sessionId ?? '';
    const call = { jsonrpc: '2.0', id: 70, method: 'tools/call', params: { name: 'lookup', arguments: { key: 'one-write' } } };
    const chunks = await rawPost(sessionId, call, wholeResponse);
    expect(chunks[0]).toMatch(/^HTTP\/1\.1 200/);
    expect(chunks[0]).toMatch(/^content-type: application\/json\r$/im);
    expect(chunks[0]).toMatch(/^content-length: \d+\r$/im);
    expect(wholeResponse(chunks[0])).toBe(true);
    const body = chunks[0].slice(chunks[0].indexOf('\r\n\r\n') + 4);
    expect(JSON.parse(body)).toEqual({ jsonrpc: '2.0', id: 70, result: { content: [{ type: 'text', text: 'value of one-write' }] } });
    await client.close();
  });

  it('sends a held call’s headers at once, with its first notification', async () => {
    const client = await h.connect(token);
    const sessionId = (client.transport as { sessionId?: string }).sessionId ?? '';
    const call = { jsonrpc: '2.0', id: 71, method: 'tools/call', params: { name: 'delete_everything', arguments: { scope: 'held' } } };
    const chunks = await rawPost(sessionId, call, /awaits human approval/);
    const received = chunks.join('');
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    expect(received).toMatch(/^content-type: text\/event-stream\r$/im);
    expect(received).toContain('notifications/message');
    expect(received).not.toContain('"result"');
    await client.close();
  });

  describe('Streamable HTTP session rules', () => {
    /** A raw session: initialize and initialized, over fetch; returns its id. */
    const openSession = async () => {
      const response = await post(initialize, token);
      expect(response.status).toBe(200);
      // answered before the headers wait ran out: one JSON body
      expect(response.headers.get('content-type')).toBe('application/json');
      const sessionId = response.headers.get('mcp-session-id') ?? '';
      expect(await response.text()).toContain('"protocolVersion"');
      const initialized = await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, token, session(sessionId));
      expect(initialized.status).toBe(202);
      return sessionId;
    };
    const session = (sessionId: string) => ({ 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' });
    const lookup = (id: number, key: string) => ({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name: 'lookup', arguments: { key } },
    });
    /** The JSON-RPC messages of an SSE body. */
    const events = (body: string) =>
      body
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => JSON.parse(line.slice(6)));

    it('refuses a POST that does not accept SSE and JSON (406) or is not JSON (415)', async () => {
      const sessionId = await openSession();
      const notSse = await post(lookup(2, 'x'), token, { ...session(sessionId), accept: 'application/json' });
      expect(notSse.status).toBe(406);
      expect((await notSse.json()).error.message).toMatch(/Not Acceptable/);
      const notJson = await post(lookup(3, 'x'), token, { ...session(sessionId), 'content-type': 'text/plain' });
      expect(notJson.status).toBe(415);
      expect(h.executions().filter((e) => JSON.stringify(e.args) === '{"key":"x"}')).toEqual([]);
    });

    it('answers a batch of two calls on one stream, and refuses a batch over 100 messages', async () => {
      const sessionId = await openSession();
      const response = await post([lookup(10, 'first'), lookup(11, 'second')], token, session(sessionId));
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/event-stream');
      const answers = events(await response.text());
      expect(answers.map((m) => m.id).sort()).toEqual([10, 11]);
      expect(answers.map((m) => m.result.content[0].text).sort()).toEqual(['value of first', 'value of second']);

      const tooMany = Array.from({ length: 101 }, (_, i) => lookup(100 + i, `batch-${i}`));
      const refused = await post(tooMany, token, session(sessionId));
      expect(refused.status).toBe(400);
      expect((await refused.json()).error.message).toMatch(/Batch must not exceed 100/);
    });

    it('refuses a second initialize and an unsupported protocol version in a session', async () => {
      const sessionId = await openSession();
      const again = await post(initialize, token, session(sessionId));
      expect(again.status).toBe(400);
      expect((await again.json()).error.message).toMatch(/already initialized/);
      const version = await post(lookup(20, 'y'), token, { ...session(sessionId), 'mcp-protocol-version': '1999-01-01' });
      expect(version.status).toBe(400);
      expect((await version.json()).error.message).toMatch(/Unsupported protocol version: 1999-01-01/);
    });

    it('allows one standalone GET stream per session (409 for a second) and 405 for other methods', async () => {
      const sessionId = await openSession();
      const headers = { ...mcpHeaders(token, session(sessionId)), accept: 'text/event-stream' };
      const controller = new AbortController();
      const first = await fetch(`${h.url}/mcp/fixture`, { headers, signal: controller.signal });
      expect(first.status).toBe(200);
      expect(first.headers.get('content-type')).toBe('text/event-stream');
      const second = await fetch(`${h.url}/mcp/fixture`, { headers });
      expect(second.status).toBe(409);
      await second.text();
      controller.abort();
      const put = await fetch(`${h.url}/mcp/fixture`, { method: 'PUT', headers: mcpHeaders(token, session(sessionId)), body: '{}' });
      expect(put.status).toBe(405);
      expect(put.headers.get('allow')).toBe('GET, POST, DELETE');
    });

    it('refuses a request id still in use in the session, and the first call still gets its answer', async () => {
      const sessionId = await openSession();
      const call = (scope: string) => ({
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: 'delete_everything', arguments: { scope } },
      });
      const held = post(call('id-reuse'), token, session(sessionId));
      const request = await h.pending({ sessionId });
      for (const body of [call('id-reuse-2'), [lookup(40, 'batch'), { ...lookup(41, 'batch'), id: 40 }]]) {
        const reused = await post(body, token, session(sessionId));
        expect(reused.status).toBe(400);
        expect((await reused.json()).error.message).toMatch(/request id 40|request id 7/);
      }
      const reviewer = await h.person('approver');
      await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' });
      const answers = events(await (await held).text());
      expect(answers.at(-1)).toMatchObject({ id: 7, result: { content: [{ text: 'deleted id-reuse' }] } });
      const runs = h.executions().filter((e) => e.tool === 'delete_everything');
      expect(runs.map((e) => e.args)).toEqual([{ scope: 'id-reuse' }]);
      expect(h.executions().filter((e) => JSON.stringify(e.args) === '{"key":"batch"}')).toEqual([]);
    });

    it('opens no session and starts no upstream for an initialize without its params', async () => {
      const owner = await h.person('approver');
      const agent = await h.agent(owner.email, 'bare-initialize');
      const starts = () => h.executions().filter((e) => e.event === 'start').length;
      const before = starts();
      const response = await post({ jsonrpc: '2.0', id: 1, method: 'initialize' }, agent);
      expect(response.status).toBe(400);
      expect(response.headers.get('mcp-session-id')).toBeNull();
      expect((await response.json()).error.message).toMatch(/not initialized/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(starts()).toBe(before);
    });

    it('ends the stream of a held call the agent cancels, with no answer, and never runs it', async () => {
      const sessionId = await openSession();
      const held = post(
        { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'delete_everything', arguments: { scope: 'cancelled-stream' } } },
        token,
        session(sessionId),
      );
      const request = await h.pending({ sessionId });
      const cancel = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 8, reason: 'changed my mind' } };
      expect((await post(cancel, token, session(sessionId))).status).toBe(202);
      // the body ends: nothing more will come on this stream, and no answer was sent
      const answers = events(await (await held).text());
      expect(answers.filter((m) => m.id === 8)).toEqual([]);
      const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
      expect(row.status).toBe('cancelled');
      expect(h.executions().filter((e) => JSON.stringify(e.args) === '{"scope":"cancelled-stream"}')).toEqual([]);
    });

    it('ends a session on DELETE: 200, then the session is unknown', async () => {
      const sessionId = await openSession();
      const deleted = await fetch(`${h.url}/mcp/fixture`, { method: 'DELETE', headers: mcpHeaders(token, session(sessionId)) });
      expect(deleted.status).toBe(200);
      const after = await post(lookup(30, 'after-delete'), token, session(sessionId));
      expect(after.status).toBe(404);
      expect(h.executions().filter((e) => JSON.stringify(e.args) === '{"key":"after-delete"}')).toEqual([]);
    });
  });

  it('keeps serving after all of the above', async () => {
    const client = await h.connect(token);
    const result = await client.callTool({ name: 'lookup', arguments: { key: 'still-up' } });
    expect((result.content as { text: string }[])[0].text).toBe('value of still-up');
    const health = await fetch(`${h.url}/api/health`);
    expect(await health.json()).toEqual({ status: 'ok' });
  });
});

describe.each(backends())('gateway session limits on %s', (backend) => {
  let h: TestAirlock;
  let owner: Awaited<ReturnType<TestAirlock['person']>>;

  beforeAll(async () => {
    h = await startTestAirlock(backend, {
      sessions: { maxPerAgent: 2, idleMinutes: 0.05 },
      rules: [{ id: 'held', tool: 'pay', action: 'require_approval', timeoutSeconds: 60 }],
    });
    owner = await h.person('approver');
  });
  afterAll(() => h?.close());

  const sessionIdOf = (client: { transport: unknown }) => (client.transport as { sessionId?: string }).sessionId ?? '';

  it('refuses an agent’s session beyond its limit with 429 naming it, while other agents still get theirs', async () => {
    const greedy = await h.agent(owner.email, 'greedy-agent');
    const first = await h.connect(greedy);
    await h.connect(greedy);
    const third = await fetch(`${h.url}/mcp/fixture`, { method: 'POST', headers: mcpHeaders(greedy), body: JSON.stringify(initialize) });
    expect(third.status).toBe(429);
    expect((await third.json()).error.message).toContain(
      'agent greedy-agent has 2 MCP sessions open on this Airlock instance, the most allowed (sessions.maxPerAgent: 2)',
    );
    // another agent is not held back by this one
    const other = await h.connect(await h.agent(owner.email, 'modest-agent'));
    expect((await other.callTool({ name: 'lookup', arguments: { key: 'k' } })).isError).toBeFalsy();
    // ending a session frees its place
    await (first.transport as { terminateSession?: () => Promise<void> }).terminateSession?.();
    const again = await fetch(`${h.url}/mcp/fixture`, { method: 'POST', headers: mcpHeaders(greedy), body: JSON.stringify(initialize) });
    expect(again.status).toBe(200);
    await again.body?.cancel();
  });

  it('closes a session idle past sessions.idleMinutes, but not one holding a call', async () => {
    const agent = await h.agent(owner.email, 'idle-agent');
    const idle = await h.connect(agent);
    const holding = await h.connect(agent);
    const call = holding.callTool({ name: 'pay', arguments: { to: 'idle-test', amount: 1 } }).catch((error: Error) => error);
    const request = await h.pending({ sessionId: sessionIdOf(holding) });
    // 0.05 min is 3 s, and the sweep runs every 1.5 s: closed within about 4.5 s
    await eventually(() => h.airlock.gateway.session(sessionIdOf(idle)) === undefined, 15_000);
    expect(h.airlock.gateway.session(sessionIdOf(holding))).toBeDefined();
    const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
    expect(row.status).toBe('pending');
    await decide(h.t.database, { requestId: request.id, user: { id: (await h.person('approver')).id }, decision: 'deny', reason: 'test' });
    await call;
  });
});
