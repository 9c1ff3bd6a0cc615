import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../../db/schema';
import { decide } from '../../server/approvals/decide';
import { callText, eventually, type Person, root, startTestAirlock, type TestAirlock } from '../helpers/airlock';
import { backends } from '../helpers/db';

const hostile = { transport: 'stdio' as const, command: process.execPath, args: [resolve(root, 'test/fixtures/hostile-server.mjs')] };

const rawHeaders = (token: string, sessionId?: string) => ({
  authorization: `Bearer ${token}`,
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  ...(sessionId ? { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' } : {}),
});

/** An MCP session opened with raw HTTP (initialize, then initialized); returns its id. */
async function openRawSession(url: string, token: string, upstream: string): Promise<string> {
  const initialize = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  };
  const response = await fetch(`${url}/mcp/${upstream}`, { method: 'POST', headers: rawHeaders(token), body: JSON.stringify(initialize) });
  const sessionId = response.headers.get('mcp-session-id') ?? '';
  expect(await response.text()).toContain('protocolVersion');
  const initialized = { jsonrpc: '2.0', method: 'notifications/initialized' };
  await fetch(`${url}/mcp/${upstream}`, { method: 'POST', headers: rawHeaders(token, sessionId), body: JSON.stringify(initialized) });
  return sessionId;
}

describe.each(backends())('a hostile upstream on %s', (backend) => {
  const logDir = mkdtempSync(join(tmpdir(), 'airlock-hostile-'));
  let h: TestAirlock;
  let reviewer: Person;
  let token: string;

  beforeAll(async () => {
    h = await startTestAirlock(backend, {
      upstreams: {
        hostile,
        'no-tool-list': { ...hostile, env: { HOSTILE_NO_TOOL_LIST: '1', HOSTILE_LOG: join(logDir, 'no-tool-list.log') } },
        uncanonical: { ...hostile, env: { HOSTILE_UNCANONICAL: '1', HOSTILE_LOG: join(logDir, 'uncanonical.log') } },
        logged: { ...hostile, env: { HOSTILE_LOG: join(logDir, 'logged.log') } },
      },
    });
    const owner = await h.person('approver');
    reviewer = await h.person('approver');
    token = await h.agent(owner.email);
  });
  afterAll(() => h?.close());

  it('cannot answer a held call: responses to ids Airlock never sent are dropped', async () => {
    const client = await h.connect(token, 'hostile');
    let settled = false;
    const held = client.callTool({ name: 'risky', arguments: {} }).finally(() => {
      settled = true;
    });
    const request = await h.pending({ tool: 'risky' });
    // the upstream now "answers" every small request id, the held call's among them
    expect(callText(await client.callTool({ name: 'slow', arguments: { spoof: true } }))).toBe('slow done');
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
    await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'deny', reason: 'not now' });
    const result = await held;
    expect(result.isError).toBe(true);
    expect(callText(result)).toContain('not now');
  });

  it('answers to a call the agent cancelled are audited, not relayed', async () => {
    const client = await h.connect(token, 'hostile');
    const abort = new AbortController();
    const call = client.callTool({ name: 'slow', arguments: { delay: 400 } }, CallToolResultSchema, { signal: abort.signal });
    setTimeout(() => abort.abort('too slow'), 100);
    await expect(call).rejects.toThrow();
    const cancelledResult = await eventually(async () => {
      const rows = await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.type, 'tool.result'));
      return rows.find((row) => (row.payload as { cancelled?: boolean }).cancelled === true);
    });
    expect(cancelledResult.payload).toMatchObject({ tool: 'slow', upstream: 'hostile' });
    // and the session goes on
    expect(callText(await client.callTool({ name: 'slow', arguments: {} }))).toBe('slow done');
  });

  it('records a call the upstream died in the middle of before telling the agent', async () => {
    const client = await h.connect(token, 'hostile');
    const result = await client.callTool({ name: 'slow', arguments: { crash: true } }).catch((error: Error) => error);
    expect(result).toBeInstanceOf(Error);
    expect(String(result)).toMatch(/closed/);
    const [interrupted] = await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.type, 'tool.interrupted'));
    expect(interrupted.payload).toMatchObject({ tool: 'slow', upstream: 'hostile', reason: 'upstream hostile closed' });
  });

  it('refuses a call, never forwarding it, when the upstream’s tool list cannot be read (fail closed)', async () => {
    const client = await h.connect(token, 'no-tool-list');
    const result = await client.callTool({ name: 'risky', arguments: {} });
    expect(result.isError).toBe(true);
    expect(callText(result)).toMatch(/could not read the tool list of no-tool-list .*not executed/);
    const methods = readFileSync(join(logDir, 'no-tool-list.log'), 'utf8').split('\n').filter(Boolean);
    expect(methods).toContain('tools/list');
    expect(methods).not.toContain('tools/call');
    const refused = await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.type, 'tool.refused'));
    expect(refused.map((row) => row.payload)).toEqual([expect.objectContaining({ upstream: 'no-tool-list', tool: 'risky' })]);
  });
  it('relays a tool list no digest can be made of, refuses its tools unrun, and keeps serving', async () => {
    const client = await h.connect(token, 'uncanonical');
    // relayed as the upstream wrote it (transparency), though it cannot be stored or bound to an approval
    const { tools } = await client.listTools();
    expect(tools.map((t) => [t.name, t.description])).toEqual([['odd', 'cut in the middle of an emoji \ud83d']]);
    const result = await client.callTool({ name: 'odd', arguments: { n: 1 } });
    expect(result.isError).toBe(true);
    expect(callText(result)).toMatch(/not representable as RFC 8785 canonical JSON \(Lone surrogate is not allowed\).*not executed/);
    const methods = readFileSync(join(logDir, 'uncanonical.log'), 'utf8').split('\n').filter(Boolean);
    expect(methods).not.toContain('tools/call');
    const refused = await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.type, 'tool.refused'));
    // like every event of a call, with the call's id
    expect(refused.map((row) => row.payload)).toContainEqual(
      expect.objectContaining({ upstream: 'uncanonical', tool: 'odd', callId: expect.stringMatching(/^[0-9a-f-]{36}$/) }),
    );
    // and arguments with no digest are refused as invalid, whatever the tool
    await expect(client.callTool({ name: 'odd', arguments: { n: '\ud800' } })).rejects.toThrow(
      /arguments are not representable as RFC 8785/,
    );
    const refusedArguments = await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.type, 'tool.refused'));
    expect(refusedArguments.map((row) => row.payload)).toContainEqual(
      expect.objectContaining({
        upstream: 'uncanonical',
        tool: 'odd',
        callId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        reason: expect.stringContaining('arguments are not representable'),
      }),
    );
    const again = await h.connect(token, 'hostile');
    expect(callText(await again.callTool({ name: 'slow', arguments: {} }))).toBe('slow done');
  });

  it('never forwards a tools/call sent without an id (a notification), and audits it as refused', async () => {
    const sessionId = await openRawSession(h.url, token, 'logged');
    const notified = await fetch(`${h.url}/mcp/logged`, {
      method: 'POST',
      headers: rawHeaders(token, sessionId),
      body: JSON.stringify({ jsonrpc: '2.0', method: 'tools/call', params: { name: 'risky', arguments: { all: true } } }),
    });
    expect(notified.status).toBe(202);
    const refused = await eventually(async () =>
      (await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.type, 'tool.refused'))).find(
        (row) => (row.payload as { upstream?: string }).upstream === 'logged',
      ),
    );
    expect(refused.payload).toMatchObject({ tool: 'risky', reason: 'a tools/call without an id is never forwarded' });
    // the session goes on, and its next request is the first tools/call the upstream ever saw
    const answer = await fetch(`${h.url}/mcp/logged`, {
      method: 'POST',
      headers: rawHeaders(token, sessionId),
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow', arguments: {} } }),
    });
    expect(await answer.text()).toContain('slow done');
    const methods = readFileSync(join(logDir, 'logged.log'), 'utf8').split('\n').filter(Boolean);
    expect(methods.filter((m) => m.startsWith('tools/call'))).toEqual(['tools/call']);
  });

  it('holds a call whose string id holds U+0000, which PostgreSQL cannot store as it is', async () => {
    const sessionId = await openRawSession(h.url, token, 'logged');
    const answer = fetch(`${h.url}/mcp/logged`, {
      method: 'POST',
      headers: rawHeaders(token, sessionId),
      body: JSON.stringify({ jsonrpc: '2.0', id: 'nul\u0000id', method: 'tools/call', params: { name: 'risky', arguments: {} } }),
    }).then((response) => response.text());
    const request = await h.pending({ sessionId });
    expect(request.rpcId).toBe('nul\uFFFDid');
    await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'deny', reason: 'odd id' });
    // the answer carries the agent's own id, unchanged
    expect(await answer).toContain('"id":"nul\\u0000id"');
  });
});

describe.each(backends())('sessions an agent walked away from on %s', (backend) => {
  let h: TestAirlock;
  let token: string;

  beforeAll(async () => {
    h = await startTestAirlock(backend, {
      // idle after 1.2 s, swept every second
      sessions: { idleMinutes: 0.02 },
      upstreams: {
        hostile,
        // never answers anything, initialize included
        mute: { transport: 'stdio', command: process.execPath, args: ['-e', 'process.stdin.resume()'] },
      },
    });
    token = await h.agent((await h.person('approver')).email);
  });
  afterAll(() => h?.close());

  /** POST a request, wait for the response's headers, then drop the connection; returns the session id it got. */
  const postAndDrop = (upstream: string, body: unknown, sessionId?: string) =>
    new Promise<string>((resolve, reject) => {
      const request = httpRequest(`${h.url}/mcp/${upstream}`, { method: 'POST', headers: rawHeaders(token, sessionId) }, (response) => {
        const id = String(response.headers['mcp-session-id'] ?? sessionId);
        setTimeout(() => {
          request.destroy();
          resolve(id);
        }, 100);
      });
      request.on('error', reject);
      request.end(JSON.stringify(body));
    });

  it('closes an idle session whose agent dropped the stream of a call still running upstream, auditing the call', async () => {
    const sessionId = await openRawSession(h.url, token, 'hostile');
    await postAndDrop(
      'hostile',
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow', arguments: { delay: 60_000 } } },
      sessionId,
    );
    // the answer has no stream to go on: the call keeps the session open no longer than idleness allows
    await eventually(() => h.airlock.gateway.session(sessionId) === undefined, 10_000);
    const interrupted = await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.type, 'tool.interrupted'));
    expect(interrupted.map((row) => row.payload)).toContainEqual(
      expect.objectContaining({ tool: 'slow', upstream: 'hostile', reason: 'idle' }),
    );
  });

  it('closes a session whose agent gave up on an initialize the upstream never answered', async () => {
    const sessionId = await postAndDrop('mute', {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    });
    expect(h.airlock.gateway.session(sessionId)).toBeDefined();
    await eventually(() => h.airlock.gateway.session(sessionId) === undefined, 10_000);
  });
});
