import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeAgent } from '../../server/auth/agents';
import { startTestAirlock, type TestAirlock } from '../helpers/airlock';
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
    h = await startTestAirlock(backend, {
      upstreams: { other: { transport: 'stdio', command: process.execPath, args: ['-e', 'process.exit(3)'] } },
    });
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

  /** POST over a raw socket; resolves with the chunks read, once `until` matches what arrived. */
  const rawPost = (sessionId: string, body: unknown, until: RegExp) =>
    new Promise<string[]>((resolve, reject) => {
      const text = JSON.stringify(body);
      const { host } = new URL(h.url);
      const socket = connect(Number(new URL(h.url).port), '127.0.0.1');
      const chunks: string[] = [];
      socket.setTimeout(10_000, () => socket.destroy(new Error(`no ${until} within 10 s; got ${JSON.stringify(chunks)}`)));
      socket.on('error', reject);
      socket.on('data', (chunk) => {
        chunks.push(chunk.toString());
        if (until.test(chunks.join(''))) {
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

  it('sends a call answered at once in one write: headers, result and end of stream together', async () => {
    const client = await h.connect(token);
    const sessionId = (client.transport as { sessionId?: string }).sessionId ?? '';
    const call = { jsonrpc: '2.0', id: 70, method: 'tools/call', params: { name: 'lookup', arguments: { key: 'one-write' } } };
    const chunks = await rawPost(sessionId, call, /\r\n0\r\n\r\n/);
    expect(chunks[0]).toMatch(/^HTTP\/1\.1 200/);
    expect(chunks[0]).toContain('content-type: text/event-stream');
    expect(chunks[0]).toContain('value of one-write');
    expect(chunks[0]).toContain('\r\n0\r\n\r\n');
    await client.close();
  });

  it('sends a held call’s headers at once, with its first notification', async () => {
    const client = await h.connect(token);
    const sessionId = (client.transport as { sessionId?: string }).sessionId ?? '';
    const call = { jsonrpc: '2.0', id: 71, method: 'tools/call', params: { name: 'delete_everything', arguments: { scope: 'held' } } };
    const chunks = await rawPost(sessionId, call, /awaits human approval/);
    const received = chunks.join('');
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    expect(received).toContain('notifications/message');
    expect(received).not.toContain('"result"');
    await client.close();
  });

  it('keeps serving after all of the above', async () => {
    const client = await h.connect(token);
    const result = await client.callTool({ name: 'lookup', arguments: { key: 'still-up' } });
    expect((result.content as { text: string }[])[0].text).toBe('value of still-up');
    const health = await fetch(`${h.url}/api/health`);
    expect(await health.json()).toEqual({ status: 'ok' });
  });
});
