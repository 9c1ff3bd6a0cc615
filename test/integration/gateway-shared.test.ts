import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CallToolResultSchema,
  type ClientCapabilities,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  type Progress,
  ProgressNotificationSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { approvalRequests, auditEvents } from '../../db/schema';
import { decide } from '../../server/approvals/decide';
import { ConfigError, loadConfig, parseConfig } from '../../server/config/load';
import {
  type CallResult,
  callText,
  eventually,
  fixtureUpstream,
  type Person,
  readJsonLines,
  root,
  startTestAirlock,
  type TestAirlock,
} from '../helpers/airlock';
import { backends } from '../helpers/db';

const everything = join(root, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const sharedServer = join(root, 'test/fixtures/shared-server.mjs');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A line of a fixture's FIXTURE_LOG. */
type LogEntry = {
  pid: number;
  event: string;
  tool?: string;
  tag?: string;
  id?: string | number;
  progressToken?: string | number;
  requestId?: string | number;
  uri?: string;
  args?: Record<string, unknown>;
  params?: { clientInfo?: { name?: string }; capabilities?: Record<string, unknown> };
};

/** The distinct processes that logged a start. */
const starts = (file: string) => [
  ...new Set(
    readJsonLines<LogEntry>(file)
      .filter((e) => e.event === 'start')
      .map((e) => e.pid),
  ),
];

/** Record the ids of the requests a client sends from now on. */
function sentIds(client: Client): (string | number)[] {
  const ids: (string | number)[] = [];
  const transport = client.transport as Transport;
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    if ('method' in message && 'id' in message && message.id !== undefined) ids.push(message.id);
    return send(message, options);
  };
  return ids;
}

type RawMessage = {
  jsonrpc: '2.0';
  id?: string | number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
};

/** The JSON-RPC messages of a response, JSON or an SSE stream read to its end. */
async function readMessages(response: Response): Promise<RawMessage[]> {
  const body = await response.text();
  if ((response.headers.get('content-type') ?? '').includes('application/json')) {
    const parsed = JSON.parse(body);
    return Array.isArray(parsed) ? parsed : [parsed];
  }
  return body
    .split('\n')
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice('data:'.length).trim())
    .filter(Boolean)
    .map((data) => JSON.parse(data));
}

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

describe.each(backends())('shared upstreams on %s', (backend) => {
  let h: TestAirlock;
  let logs: string;
  let owner: Person;
  let reviewer: Person;
  let tokenA: string;
  let tokenB: string;
  const extraClients: Client[] = [];
  const log = (name: string) => join(logs, `${name}.jsonl`);
  const fixtureLike = (name: string) => ({
    transport: 'stdio' as const,
    command: process.execPath,
    args: [sharedServer],
    env: { FIXTURE_LOG: log(name) },
    shared: true,
  });

  beforeAll(async () => {
    logs = mkdtempSync(join(tmpdir(), 'airlock-shared-'));
    h = await startTestAirlock(backend, {
      upstreams: {
        // the tools fixture, shared, logging to its own file (the helper's `fixture` stays per session)
        shared: { ...fixtureUpstream(log('shared')), shared: true },
        racing: { ...fixtureUpstream(log('racing')), shared: true },
        everything: { transport: 'stdio', command: process.execPath, args: [everything, 'stdio'], shared: true },
        'everything-own': { transport: 'stdio', command: process.execPath, args: [everything, 'stdio'] },
        probe: fixtureLike('probe'),
        closing: fixtureLike('closing'),
        fragile: fixtureLike('fragile'),
        'slow-restart': { ...fixtureLike('slow-restart'), env: { FIXTURE_LOG: log('slow-restart'), FIXTURE_RESTART_DELAY_MS: '1500' } },
      },
      rules: [
        { id: 'shared-pay', upstream: 'shared', tool: 'pay', action: 'require_approval', reason: 'payments need a human' },
        { id: 'fragile-notify', upstream: 'fragile', tool: 'notify', action: 'require_approval', reason: 'held in the crash test' },
      ],
    });
    owner = await h.person('approver');
    reviewer = await h.person('approver');
    tokenA = await h.agent(owner.email, 'agent-a');
    tokenB = await h.agent(owner.email, 'agent-b');
  });
  afterAll(async () => {
    await Promise.allSettled(extraClients.map((c) => c.close()));
    await h?.close();
    if (logs) rmSync(logs, { recursive: true, force: true });
  });

  /** An MCP client declaring `capabilities`, connected through Airlock. */
  async function connectWith(token: string, upstream: string, capabilities: ClientCapabilities): Promise<Client> {
    const client = new Client({ name: 'capable-agent', version: '1.0.0' }, { capabilities });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${h.url}/mcp/${upstream}`), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    extraClients.push(client);
    return client;
  }

  /** An MCP session over raw HTTP, so the test chooses every request id. */
  async function rawSession(token: string, upstream: string) {
    const url = `${h.url}/mcp/${upstream}`;
    const base = { ...JSON_HEADERS, authorization: `Bearer ${token}` };
    const init = await fetch(url, {
      method: 'POST',
      headers: base,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      }),
    });
    expect(init.status).toBe(200);
    const sessionId = init.headers.get('mcp-session-id') ?? '';
    expect(sessionId).not.toBe('');
    const initialize = (await readMessages(init)).find((m) => m.id === 0);
    expect(initialize?.result).toBeDefined();
    const result = initialize?.result as { protocolVersion: string; serverInfo: unknown; capabilities: Record<string, unknown> };
    const headers = { ...base, 'mcp-session-id': sessionId, 'mcp-protocol-version': result.protocolVersion };
    const initialized = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    });
    await initialized.text();
    return {
      sessionId,
      initialize: result,
      /** Send one request; every message of its response stream. */
      async request(id: string | number, method: string, params?: Record<string, unknown>): Promise<RawMessage[]> {
        const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id, method, params }) });
        return readMessages(response);
      },
      async close(): Promise<void> {
        await (await fetch(url, { method: 'DELETE', headers })).text();
      },
    };
  }

  /** The HTTP status a request on an existing session id gets: 404 once Airlock closed the session. */
  async function sessionStatus(token: string, upstream: string, sessionId: string): Promise<number> {
    const response = await fetch(`${h.url}/mcp/${upstream}`, {
      method: 'POST',
      headers: { ...JSON_HEADERS, authorization: `Bearer ${token}`, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'status', method: 'ping' }),
    });
    await response.text();
    return response.status;
  }

  const sessionOf = (client: Client) => (client.transport as StreamableHTTPClientTransport).sessionId ?? '';

  it('serves two agents’ sessions from one upstream process, each getting its own answers to the same request ids', async () => {
    // started by the first session that needs it, not before
    expect(starts(log('shared'))).toEqual([]);
    const a = await rawSession(tokenA, 'shared');
    const b = await rawSession(tokenB, 'shared');
    // initialize is answered with the upstream's own
    for (const session of [a, b]) {
      expect(session.initialize.serverInfo).toEqual({ name: 'fixture', version: '1.0.0' });
      expect(session.initialize.capabilities).toMatchObject({ tools: {}, logging: {} });
    }

    // both sessions use the very same ids, all at once
    const ids: (string | number)[] = [1, 2, 3, 4, 5, 6, 'same'];
    const exchanges = await Promise.all(
      [
        { who: 'a', session: a },
        { who: 'b', session: b },
      ].flatMap(({ who, session }) =>
        ids.map(async (id) => ({
          who,
          id,
          messages: await session.request(id, 'tools/call', { name: 'lookup', arguments: { key: `${who}-${id}` } }),
        })),
      ),
    );
    for (const { who, id, messages } of exchanges) {
      const responses = messages.filter((m) => m.result !== undefined || m.error !== undefined);
      expect(responses, `${who} ${id}`).toHaveLength(1);
      expect(responses[0].id).toBe(id);
      expect(responses[0].error).toBeUndefined();
      expect(callText(responses[0].result)).toBe(`value of ${who}-${id}`);
    }

    // one process ran all fourteen calls, each once
    expect(starts(log('shared'))).toHaveLength(1);
    const calls = readJsonLines<LogEntry>(log('shared')).filter((e) => e.event === 'call' && e.tool === 'lookup');
    expect(calls.map((c) => (c.args as { key: string }).key).sort()).toEqual(
      ['a', 'b'].flatMap((who) => ids.map((id) => `${who}-${id}`)).sort(),
    );
    expect(new Set(calls.map((c) => c.pid))).toEqual(new Set(starts(log('shared'))));

    // an SDK client is served by the same process too
    const c = await h.connect(tokenA, 'shared');
    expect(c.getServerVersion()).toEqual({ name: 'fixture', version: '1.0.0' });
    expect(callText(await c.callTool({ name: 'lookup', arguments: { key: 'sdk' } }))).toBe('value of sdk');

    // with every session gone the upstream stays, and the next session uses it
    await a.close();
    await b.close();
    await (c.transport as StreamableHTTPClientTransport).terminateSession();
    await c.close();
    await sleep(300);
    const d = await h.connect(tokenB, 'shared');
    expect(callText(await d.callTool({ name: 'lookup', arguments: { key: 'later' } }))).toBe('value of later');
    expect(starts(log('shared'))).toHaveLength(1);
  });

  it('initializes the upstream itself, as `airlock` with no client capabilities, and answers initialize with its result', async () => {
    // the agent offers everything; none of it may reach a shared upstream
    const client = await connectWith(tokenA, 'probe', { sampling: {}, elicitation: {}, roots: { listChanged: true } });
    expect(client.getServerVersion()).toEqual({ name: 'shared-fixture', version: '7.7.7' });
    expect(client.getInstructions()).toBe('Instructions of the shared fixture.');
    expect(client.getServerCapabilities()).toEqual({
      tools: { listChanged: true },
      resources: { subscribe: true, listChanged: true },
      logging: {},
    });
    const second = await h.connect(tokenB, 'probe');
    expect(second.getServerVersion()).toEqual({ name: 'shared-fixture', version: '7.7.7' });

    const initializes = readJsonLines<LogEntry>(log('probe')).filter((e) => e.event === 'initialize');
    expect(initializes).toHaveLength(1);
    expect(starts(log('probe'))).toHaveLength(1);
    expect(initializes[0].params?.clientInfo?.name).toBe('airlock');
    const capabilities = initializes[0].params?.capabilities ?? {};
    expect(capabilities).not.toHaveProperty('sampling');
    expect(capabilities).not.toHaveProperty('elicitation');
    expect(capabilities).not.toHaveProperty('roots');
  });

  it('server-everything shared: same server info and instructions as a per-session one, and no sampling, roots or elicitation tools', async () => {
    const capabilities = { sampling: {}, elicitation: {}, roots: { listChanged: true } };
    const own = await connectWith(tokenA, 'everything-own', capabilities);
    const shared = await connectWith(tokenA, 'everything', capabilities);
    expect(shared.getServerVersion()).toEqual(own.getServerVersion());
    expect(shared.getInstructions()).toBe(own.getInstructions());
    const { tasks: _ownTasks, ...ownCapabilities } = own.getServerCapabilities() ?? {};
    const { tasks: _sharedTasks, ...sharedCapabilities } = shared.getServerCapabilities() ?? {};
    expect(sharedCapabilities).toEqual(ownCapabilities);

    // a per-session upstream sees the agent's capabilities and offers the tools that use them...
    await eventually(async () => (await own.listTools()).tools.some((t) => t.name === 'trigger-sampling-request'));
    // ...a shared one was initialized by Airlock without them, so it does not
    const names = (await shared.listTools()).tools.map((t) => t.name);
    expect(names).toContain('echo');
    expect(names).toContain('trigger-long-running-operation');
    expect(names).not.toContain('trigger-sampling-request');
    expect(names).not.toContain('trigger-elicitation-request');
    expect(names).not.toContain('get-roots-list');
    expect(callText(await shared.callTool({ name: 'echo', arguments: { message: 'shared echo' } }))).toContain('shared echo');
  });

  it('server-everything shared: answers initialize with the upstream’s capabilities but `tasks`, and refuses tasks', async () => {
    // task ids are the upstream's own: through one shared connection, one agent could list or read another's
    const own = await h.connect(tokenA, 'everything-own');
    const shared = await h.connect(tokenA, 'everything');
    const { tasks, ...rest } = own.getServerCapabilities() ?? {};
    expect(tasks).toBeDefined();
    expect(shared.getServerCapabilities()).toEqual(rest);
    const refused = await shared.request({ method: 'tasks/list', params: {} }, z.object({}).passthrough()).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: -32601 });
    expect(String((refused as Error).message)).toMatch(/not available through a shared upstream/);
  });

  it('sessions that start at the same time still start one upstream process', async () => {
    const clients = await Promise.all([h.connect(tokenA, 'racing'), h.connect(tokenB, 'racing'), h.connect(tokenA, 'racing')]);
    const results = await Promise.all(clients.map((c, i) => c.callTool({ name: 'lookup', arguments: { key: `race-${i}` } })));
    expect(results.map(callText)).toEqual(['value of race-0', 'value of race-1', 'value of race-2']);
    expect(starts(log('racing'))).toHaveLength(1);
  });

  it('relays progress of a long-running tool to the session that asked, with its own token, while another session runs it', async () => {
    const a = await h.connect(tokenA, 'everything');
    const b = await h.connect(tokenB, 'everything');
    const idsA = sentIds(a);
    const idsB = sentIds(b);
    const errors: string[] = [];
    a.onerror = (error) => void errors.push(`a: ${error.message}`);
    b.onerror = (error) => void errors.push(`b: ${error.message}`);
    const progressA: Progress[] = [];
    const progressB: Progress[] = [];
    const [resultA, resultB] = await Promise.all([
      a.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 4 } }, CallToolResultSchema, {
        onprogress: (p) => void progressA.push(p),
      }),
      b.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1.2, steps: 6 } }, CallToolResultSchema, {
        onprogress: (p) => void progressB.push(p),
      }),
    ]);
    // the two calls had the same request id, so the same progress token
    expect(idsA).toHaveLength(1);
    expect(idsA).toEqual(idsB);
    expect(callText(resultA)).toContain('Steps: 4');
    expect(callText(resultB)).toContain('Steps: 6');
    expect(progressA.map((p) => [p.progress, p.total])).toEqual([
      [1, 4],
      [2, 4],
      [3, 4],
      [4, 4],
    ]);
    expect(progressB.map((p) => [p.progress, p.total])).toEqual([
      [1, 6],
      [2, 6],
      [3, 6],
      [4, 6],
      [5, 6],
      [6, 6],
    ]);
    expect(errors.filter((e) => /progress/i.test(e))).toEqual([]);
  });

  it('rewrites progress tokens upstream and gives each session back its own', async () => {
    const a = await h.connect(tokenA, 'probe');
    const b = await h.connect(tokenB, 'probe');
    // the raw notifications, whatever their token, on whichever stream they come
    const seenA: Record<string, unknown>[] = [];
    const seenB: Record<string, unknown>[] = [];
    a.setNotificationHandler(ProgressNotificationSchema, (n) => void seenA.push(n.params));
    b.setNotificationHandler(ProgressNotificationSchema, (n) => void seenB.push(n.params));
    const call = (client: Client, tag: string, steps: number) =>
      client.callTool({ name: 'progress', arguments: { tag, steps, interval: 60 }, _meta: { progressToken: 'tok' } });
    const [resultA, resultB] = await Promise.all([call(a, 'prog-A', 3), call(b, 'prog-B', 5)]);
    expect(callText(resultA)).toBe('prog-A');
    expect(callText(resultB)).toBe('prog-B');
    expect(seenA).toEqual([1, 2, 3].map((step) => ({ progressToken: 'tok', progress: step, total: 3, message: `prog-A ${step}` })));
    expect(seenB).toEqual([1, 2, 3, 4, 5].map((step) => ({ progressToken: 'tok', progress: step, total: 5, message: `prog-B ${step}` })));
    // upstream, the two calls carried distinct tokens (and ids)
    const upstreamCalls = readJsonLines<LogEntry>(log('probe')).filter(
      (e) => e.event === 'call' && (e.tag === 'prog-A' || e.tag === 'prog-B'),
    );
    expect(upstreamCalls).toHaveLength(2);
    expect(upstreamCalls[0].progressToken).toBeDefined();
    expect(upstreamCalls[0].progressToken).not.toEqual(upstreamCalls[1].progressToken);
    expect(upstreamCalls[0].id).not.toEqual(upstreamCalls[1].id);
  });

  it('refuses sampling, elicitation and roots requests from a shared upstream without asking any agent, and answers its ping', async () => {
    const handled: string[] = [];
    const capable = async (token: string, who: string) => {
      const client = await connectWith(token, 'probe', { sampling: {}, elicitation: {}, roots: { listChanged: true } });
      client.setRequestHandler(CreateMessageRequestSchema, async () => {
        handled.push(`${who}: sampling`);
        return { role: 'assistant', model: 'test-model', content: { type: 'text', text: 'sampled' } };
      });
      client.setRequestHandler(ElicitRequestSchema, async () => {
        handled.push(`${who}: elicitation`);
        return { action: 'accept', content: {} };
      });
      client.setRequestHandler(ListRootsRequestSchema, async () => {
        handled.push(`${who}: roots`);
        return { roots: [{ uri: 'file:///agent-root', name: 'agent root' }] };
      });
      return client;
    };
    const asking = await capable(tokenA, 'a');
    await capable(tokenB, 'b');
    const ask = async (method: string, params?: Record<string, unknown>) =>
      JSON.parse(callText(await asking.callTool({ name: 'ask', arguments: { method, params } })));

    const sampling = await ask('sampling/createMessage', {
      messages: [{ role: 'user', content: { type: 'text', text: 'hello' } }],
      maxTokens: 10,
    });
    expect(sampling.error?.code).toBe(-32601);
    const elicitation = await ask('elicitation/create', {
      message: 'Your name?',
      requestedSchema: { type: 'object', properties: { name: { type: 'string' } } },
    });
    expect(elicitation.error?.code).toBe(-32601);
    const roots = await ask('roots/list');
    expect(roots.error?.code).toBe(-32601);
    expect(await ask('ping')).toEqual({ result: {} });
    await sleep(200);
    expect(handled).toEqual([]);
  });

  it('sends list_changed to every session, resources/updated only to subscribers, and log messages to none', async () => {
    type Seen = { toolsChanged: number; resourcesChanged: number; updated: string[]; logs: unknown[] };
    const listen = (client: Client): Seen => {
      const seen: Seen = { toolsChanged: 0, resourcesChanged: 0, updated: [], logs: [] };
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => void seen.toolsChanged++);
      client.setNotificationHandler(ResourceListChangedNotificationSchema, () => void seen.resourcesChanged++);
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void seen.updated.push(n.params.uri));
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void seen.logs.push(n.params.data));
      return seen;
    };
    const a = await h.connect(tokenA, 'probe');
    const b = await h.connect(tokenB, 'probe');
    const c = await h.connect(tokenA, 'probe');
    const [seenA, seenB, seenC] = [listen(a), listen(b), listen(c)];
    const notify = (client: Client, notifications: { method: string; params?: Record<string, unknown> }[]) =>
      client.callTool({ name: 'notify', arguments: { notifications: notifications.map((n) => ({ jsonrpc: '2.0', ...n })) } });

    // tools/list_changed reaches every session (retried until each client's standalone stream is up)
    await eventually(async () => {
      await notify(a, [{ method: 'notifications/tools/list_changed' }]);
      await sleep(50);
      return seenA.toolsChanged > 0 && seenB.toolsChanged > 0 && seenC.toolsChanged > 0;
    });

    await a.subscribeResource({ uri: 'test://a' });
    await b.subscribeResource({ uri: 'test://b' });
    await notify(a, [
      { method: 'notifications/resources/updated', params: { uri: 'test://a' } },
      { method: 'notifications/message', params: { level: 'info', data: 'whose is this?' } },
      { method: 'notifications/resources/list_changed' },
    ]);
    await eventually(() => seenA.resourcesChanged === 1 && seenB.resourcesChanged === 1 && seenC.resourcesChanged === 1);
    // sent by a session's call or not, an update goes to whoever subscribed to that resource
    await notify(c, [
      { method: 'notifications/resources/updated', params: { uri: 'test://b' } },
      { method: 'notifications/resources/updated', params: { uri: 'test://a' } },
      { method: 'notifications/resources/updated', params: { uri: 'test://nobody' } },
      { method: 'notifications/resources/list_changed' },
    ]);
    await eventually(() => seenA.resourcesChanged === 2 && seenB.resourcesChanged === 2 && seenC.resourcesChanged === 2);
    await sleep(300);
    expect(seenA.updated).toEqual(['test://a', 'test://a']);
    expect(seenB.updated).toEqual(['test://b']);
    expect(seenC.updated).toEqual([]);
    expect([...seenA.logs, ...seenB.logs, ...seenC.logs]).toEqual([]);
  });

  it('passes every subscription to a resource upstream, and only the last one ending, a closed session’s included', async () => {
    const a = await h.connect(tokenA, 'probe');
    const b = await h.connect(tokenB, 'probe');
    const uri = 'test://counted';
    const upstreamSaw = () =>
      readJsonLines<LogEntry>(log('probe'))
        .filter((e) => e.uri === uri)
        .map((e) => e.event);
    await a.subscribeResource({ uri });
    await b.subscribeResource({ uri });
    expect(upstreamSaw()).toEqual(['subscribe', 'subscribe']);
    // a's unsubscribing must not end b's subscription
    await a.unsubscribeResource({ uri });
    expect(upstreamSaw()).toEqual(['subscribe', 'subscribe']);
    // the last subscriber's session ends without unsubscribing: Airlock unsubscribes for it
    await (b.transport as StreamableHTTPClientTransport).terminateSession();
    await eventually(() => upstreamSaw().length === 3);
    expect(upstreamSaw()).toEqual(['subscribe', 'subscribe', 'unsubscribe']);
  });

  it('forwards a session’s cancellation upstream for that session’s request only', async () => {
    const a = await h.connect(tokenA, 'probe');
    const b = await h.connect(tokenB, 'probe');
    const idsA = sentIds(a);
    const idsB = sentIds(b);
    const cancelledBefore = readJsonLines<LogEntry>(log('probe')).filter((e) => e.event === 'cancelled').length;
    const abort = new AbortController();
    const callA = a.callTool({ name: 'echo', arguments: { tag: 'cancel-A', delay: 3000 } }, CallToolResultSchema, {
      signal: abort.signal,
    });
    const callB = b.callTool({ name: 'echo', arguments: { tag: 'cancel-B', delay: 1500 } });
    const upstream = await eventually(() => {
      const calls = readJsonLines<LogEntry>(log('probe')).filter(
        (e) => e.event === 'call' && (e.tag === 'cancel-A' || e.tag === 'cancel-B'),
      );
      return calls.length === 2 && calls;
    });
    // same id downstream, distinct ids upstream
    expect(idsA).toEqual(idsB);
    const upstreamA = upstream.find((e) => e.tag === 'cancel-A') as LogEntry;
    const upstreamB = upstream.find((e) => e.tag === 'cancel-B') as LogEntry;
    expect(upstreamA.id).not.toEqual(upstreamB.id);

    abort.abort('changed my mind');
    await expect(callA).rejects.toThrow();
    await eventually(() => readJsonLines<LogEntry>(log('probe')).filter((e) => e.event === 'cancelled').length > cancelledBefore);
    expect(callText(await callB)).toBe('cancel-B');
    const cancelled = readJsonLines<LogEntry>(log('probe'))
      .filter((e) => e.event === 'cancelled')
      .slice(cancelledBefore);
    expect(cancelled).toEqual([expect.objectContaining({ requestId: upstreamA.id, tag: 'cancel-A' })]);
    // both sessions go on
    expect(callText(await a.callTool({ name: 'echo', arguments: { tag: 'after-A' } }))).toBe('after-A');
    expect(callText(await b.callTool({ name: 'echo', arguments: { tag: 'after-B' } }))).toBe('after-B');
  });

  it('holds a call on a shared upstream until approved and runs it once; a denied one never runs', async () => {
    const payCalls = () => readJsonLines<LogEntry>(log('shared')).filter((e) => e.event === 'call' && e.tool === 'pay');
    const a = await h.connect(tokenA, 'shared');
    const b = await h.connect(tokenB, 'shared');
    const before = payCalls().length;
    const callA = a.callTool({ name: 'pay', arguments: { to: 'acme', amount: 120 } });
    const callB = b.callTool({ name: 'pay', arguments: { to: 'mallory', amount: 9999 } });
    const heldA = await h.pending({ sessionId: sessionOf(a) });
    const heldB = await h.pending({ sessionId: sessionOf(b) });
    expect(heldA).toMatchObject({ upstream: 'shared', tool: 'pay', arguments: { to: 'acme', amount: 120 } });
    expect(heldA.rule).toMatchObject({ id: 'shared-pay' });
    expect(heldB).toMatchObject({ upstream: 'shared', tool: 'pay', arguments: { to: 'mallory', amount: 9999 } });
    await sleep(200);
    expect(payCalls()).toHaveLength(before);

    await decide(h.t.database, { requestId: heldB.id, user: { id: reviewer.id }, decision: 'deny', reason: 'unknown payee' });
    const denied = (await callB) as CallResult;
    expect(denied.isError).toBe(true);
    expect(callText(denied)).toContain('unknown payee');
    expect(payCalls()).toHaveLength(before);

    await decide(h.t.database, { requestId: heldA.id, user: { id: reviewer.id }, decision: 'approve' });
    expect(callText(await callA)).toBe('paid 120 to acme');
    const paid = payCalls().slice(before);
    expect(paid).toHaveLength(1);
    expect(paid[0].args).toEqual({ to: 'acme', amount: 120 });
    await sleep(200);
    expect(payCalls().slice(before)).toHaveLength(1);

    const [approved] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, heldA.id));
    expect(approved.status).toBe('approved');
    expect(approved.executedAt).not.toBeNull();
    // audited under the session that made the call
    const results = await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.type, 'tool.result'));
    const resultA = results.filter((r) => r.sessionId === sessionOf(a));
    expect(resultA).toHaveLength(1);
    expect(resultA[0].payload).toMatchObject({ upstream: 'shared', tool: 'pay', ok: true, sessionId: sessionOf(a) });
    expect(resultA[0].requestId).toBe(heldA.id);
    expect(results.filter((r) => r.sessionId === sessionOf(b))).toEqual([]);
  });

  it('a session closing with a call in flight cancels that call upstream and leaves another session’s call alone', async () => {
    const a = await h.connect(tokenA, 'closing');
    const b = await h.connect(tokenB, 'closing');
    const callA = a.callTool({ name: 'echo', arguments: { tag: 'closing-A', delay: 2000 } }).catch((error: Error) => error);
    const callB = b.callTool({ name: 'echo', arguments: { tag: 'closing-B', delay: 1200 } });
    await eventually(() => readJsonLines<LogEntry>(log('closing')).filter((e) => e.event === 'call').length === 2);

    await (a.transport as StreamableHTTPClientTransport).terminateSession();
    await a.close();
    await callA;
    const cancelled = await eventually(() => {
      const events = readJsonLines<LogEntry>(log('closing')).filter((e) => e.event === 'cancelled');
      return events.length > 0 && events;
    });
    expect(callText(await callB)).toBe('closing-B');
    await sleep(200);
    expect(readJsonLines<LogEntry>(log('closing')).filter((e) => e.event === 'cancelled')).toEqual(cancelled);
    expect(cancelled).toEqual([expect.objectContaining({ tag: 'closing-A' })]);

    // the shared upstream keeps serving: same process, next call fine
    expect(callText(await b.callTool({ name: 'echo', arguments: { tag: 'still here' } }))).toBe('still here');
    expect(starts(log('closing'))).toHaveLength(1);
    expect(await sessionStatus(tokenB, 'closing', sessionOf(b))).toBe(200);
  });

  it('the upstream dying ends only the calls in flight: sessions and held calls stay, and the next call starts it again', async () => {
    const a = await h.connect(tokenA, 'fragile');
    const b = await h.connect(tokenB, 'fragile');
    const idle = await h.connect(tokenA, 'fragile');
    expect(callText(await idle.callTool({ name: 'echo', arguments: { tag: 'before' } }))).toBe('before');
    const [first] = starts(log('fragile'));
    expect(starts(log('fragile'))).toEqual([first]);

    // another agent's call waits for a reviewer when the server dies
    const held = idle.callTool({ name: 'notify', arguments: { notifications: [] } });
    const request = await h.pending({ sessionId: sessionOf(idle) });
    const inflight = a.callTool({ name: 'echo', arguments: { tag: 'interrupted', delay: 20_000 } }).then(
      () => null,
      (error: Error) => error,
    );
    await eventually(() => readJsonLines<LogEntry>(log('fragile')).some((e) => e.event === 'call' && e.tag === 'interrupted'));
    const crashed = await b.callTool({ name: 'crash', arguments: {} }).then(
      () => null,
      (error: Error) => error,
    );
    expect(crashed).toBeInstanceOf(Error);
    expect(await inflight).toBeInstanceOf(Error);

    // the two calls in flight are audited with the error they ended with, under their own sessions
    const results = await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.type, 'tool.result'));
    const bySession = (id: string) => results.filter((e) => e.sessionId === id).map((e) => e.payload);
    expect(bySession(sessionOf(a))).toEqual([expect.objectContaining({ upstream: 'fragile', tool: 'echo', ok: false })]);
    expect(bySession(sessionOf(b))).toEqual([expect.objectContaining({ upstream: 'fragile', tool: 'crash', ok: false })]);

    // every session is still there, and the held call runs, on a new process, once approved
    for (const [token, client] of [
      [tokenA, a],
      [tokenB, b],
      [tokenA, idle],
    ] as const) {
      expect(await sessionStatus(token, 'fragile', sessionOf(client))).toBe(200);
    }
    await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' });
    expect(callText(await held)).toBe('sent');
    expect(callText(await b.callTool({ name: 'echo', arguments: { tag: 'reborn' } }))).toBe('reborn');
    const pids = starts(log('fragile'));
    expect(pids).toHaveLength(2);
    expect(pids[0]).toBe(first);
    const reborn = readJsonLines<LogEntry>(log('fragile')).find((e) => e.event === 'call' && e.tag === 'reborn');
    expect(reborn?.pid).toBe(pids[1]);
  });

  it('does not send a call of a session that closed while the upstream was starting again', async () => {
    const leaving = await h.connect(tokenA, 'slow-restart');
    const leavingId = sessionOf(leaving);
    const staying = await h.connect(tokenB, 'slow-restart');
    expect(callText(await leaving.callTool({ name: 'echo', arguments: { tag: 'before' } }))).toBe('before');
    await leaving.callTool({ name: 'crash', arguments: {} }).catch(() => {});
    // the next call (raw: the SDK client would list the tools first) starts the upstream again,
    // whose initialize takes 1.5 s; its session ends meanwhile
    const late = fetch(`${h.url}/mcp/slow-restart`, {
      method: 'POST',
      headers: {
        ...JSON_HEADERS,
        authorization: `Bearer ${tokenA}`,
        'mcp-session-id': sessionOf(leaving),
        'mcp-protocol-version': '2025-06-18',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'late', method: 'tools/call', params: { name: 'echo', arguments: { tag: 'late' } } }),
    }).then((response) => response.text());
    await eventually(() => readJsonLines<LogEntry>(log('slow-restart')).filter((e) => e.event === 'initialize').length === 2);
    await (leaving.transport as StreamableHTTPClientTransport).terminateSession();
    // the session's end closes the call's stream, with no answer on it
    expect(await late).not.toContain('"result"');
    // a call of another session, sent after the same start, is answered once the upstream is up
    expect(callText(await staying.callTool({ name: 'echo', arguments: { tag: 'after' } }))).toBe('after');
    const calls = readJsonLines<LogEntry>(log('slow-restart')).filter((e) => e.event === 'call');
    expect(calls.map((e) => e.tag ?? e.tool)).toEqual(['before', 'crash', 'after']);
    // and it waited for the new process's initialize to be answered
    expect(calls.filter((e) => (e as { early?: boolean }).early)).toEqual([]);
    const interrupted = await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.type, 'tool.interrupted'));
    expect(interrupted.filter((e) => e.sessionId === leavingId).map((e) => e.payload)).toEqual([
      expect.objectContaining({ upstream: 'slow-restart', tool: 'echo' }),
    ]);
  });
});

describe.each(backends())('a shared HTTP upstream that restarts, on %s', (backend) => {
  let h: TestAirlock | undefined;
  let server: ChildProcess | undefined;
  afterAll(async () => {
    server?.kill('SIGKILL');
    await h?.close();
  });

  /** Start the HTTP fixture server; resolves with its port. */
  const startServer = async (port: number): Promise<number> => {
    server = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/fixtures/http-server.ts'), String(port)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(createInterface({ input: server.stdout as NodeJS.ReadableStream }), 'line')) as [string];
    return Number(line.split(' ')[1]);
  };

  it('is connected again, without an error, for the session that was using it and for new ones', async () => {
    const port = await startServer(0);
    h = await startTestAirlock(backend, { upstreams: { web: { transport: 'http', url: `http://127.0.0.1:${port}/mcp`, shared: true } } });
    const owner = await h.person('approver');
    const token = await h.agent(owner.email);
    const before = await h.connect(token, 'web');
    const first = callText(await before.callTool({ name: 'echo', arguments: { tag: 'one' } }));
    expect(first).toMatch(/^pid \d+: one$/);

    // the server restarts (a deploy, a crash): Airlock's session there is gone, the port is the same
    const stopped = server as ChildProcess;
    stopped.kill('SIGKILL');
    await once(stopped, 'exit');
    await startServer(port);

    const again = callText(await before.callTool({ name: 'echo', arguments: { tag: 'two' } }));
    expect(again).toMatch(/^pid \d+: two$/);
    expect(again.split(':')[0]).not.toBe(first.split(':')[0]);
    const after = await h.connect(token, 'web');
    expect(callText(await after.callTool({ name: 'echo', arguments: { tag: 'three' } }))).toBe(`${again.split(':')[0]}: three`);
  });
});

describe('the `shared` option of an upstream', () => {
  const sharedOf = (config: ReturnType<typeof parseConfig>, name: string) => (config.upstreams[name] as { shared?: boolean }).shared;

  it('is a boolean, false unless set', () => {
    const config = parseConfig({
      demo: false,
      upstreams: {
        own: { transport: 'stdio', command: 'tool-server' },
        stdio: { transport: 'stdio', command: 'tool-server', shared: true },
        web: { transport: 'http', url: 'https://tools.example.com/mcp', shared: true },
        off: { transport: 'stdio', command: 'tool-server', shared: false },
      },
    });
    expect(sharedOf(config, 'own') ?? false).toBe(false);
    expect(sharedOf(config, 'stdio')).toBe(true);
    expect(sharedOf(config, 'web')).toBe(true);
    expect(sharedOf(config, 'off')).toBe(false);
  });

  it('refuses a value that is not a boolean, saying which upstream and what was expected', () => {
    const bad = { demo: false, upstreams: { tools: { transport: 'stdio', command: 'tool-server', shared: 'yes' } } };
    expect(() => parseConfig(bad)).toThrow(ConfigError);
    expect(() => parseConfig(bad)).toThrow(/upstreams\.tools\.shared/);
    expect(() => parseConfig(bad)).toThrow(/boolean/);
  });

  it('refuses `shared: "yes"` in a YAML config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-config-'));
    try {
      const file = join(dir, 'airlock.yaml');
      writeFileSync(
        file,
        ['demo: false', 'upstreams:', '  tools:', '    transport: stdio', '    command: tool-server', '    shared: "yes"', ''].join('\n'),
      );
      expect(() => loadConfig(file)).toThrow(ConfigError);
      expect(() => loadConfig(file)).toThrow(/upstreams\.tools\.shared/);
      writeFileSync(
        file,
        ['demo: false', 'upstreams:', '  tools:', '    transport: stdio', '    command: tool-server', '    shared: true', ''].join('\n'),
      );
      expect(sharedOf(loadConfig(file), 'tools')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
