import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { approvalRequests, auditEvents } from '../../db/schema';
import { decide } from '../../server/approvals/decide';
import { expireOverdue } from '../../server/approvals/lifecycle';
import { getRequestDetail } from '../../server/approvals/queries';
import { getQueueItem } from '../../server/approvals/queue';
import { searchAudit } from '../../server/audit/search';
import { verifyAudit } from '../../server/audit/verify';
import { revokeAgent } from '../../server/auth/agents';
import { setUserRole } from '../../server/auth/users';
import { digest } from '../../server/lib/digest';
import { type CallResult, callText, eventually, type Person, startTestAirlock, type TestAirlock } from '../helpers/airlock';
import { backends } from '../helpers/db';

describe.each(backends())('gateway on %s', (backend) => {
  let h: TestAirlock;
  let owner: Person;
  let reviewer: Person;
  let second: Person;
  let token: string;

  beforeAll(async () => {
    h = await startTestAirlock(backend, {
      rules: [
        { id: 'no-deletes', tool: 'delete_everything', action: 'deny', reason: 'bulk deletion is never allowed' },
        {
          id: 'big-payments',
          tool: 'pay',
          action: 'require_approval',
          quorum: 1,
          timeoutSeconds: 30,
          maxGrantMinutes: 30,
          reason: 'payments need a human',
        },
      ],
    });
    owner = await h.person('approver');
    reviewer = await h.person('approver');
    second = await h.person('approver');
    token = await h.agent(owner.email);
  });
  afterAll(() => h?.close());

  function payCalls(): unknown[] {
    return h.executions().filter((e) => e.event === 'call' && e.tool === 'pay');
  }

  /** The live session behind a client, to hand it messages as the gateway does. */
  const sessionOf = (client: { transport: unknown }) => {
    const session = h.airlock.gateway.session((client.transport as { sessionId?: string }).sessionId ?? '');
    if (!session) throw new Error('no such session');
    return session;
  };
  const paysTo = (to: string) => payCalls().filter((e) => ((e as { args?: { to?: string } }).args?.to ?? '') === to);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('passes a read-only call straight through and audits it before the result', async () => {
    const client = await h.connect(token);
    const result = await client.callTool({ name: 'lookup', arguments: { key: 'colour' } });
    expect(callText(result)).toBe('value of colour');
    const events = await h.t.database.orm.select().from(auditEvents).where(sql`${auditEvents.type} in ('tool.allowed', 'tool.result')`);
    expect(events.map((e) => e.type)).toEqual(['tool.allowed', 'tool.result']);
    expect(events[0].payload).toMatchObject({ tool: 'lookup', upstream: 'fixture', argumentsDigest: digest({ key: 'colour' }) });
    // one call, one id in each of its events
    const { callId } = events[0].payload as { callId: string };
    expect(callId).toMatch(/^[0-9a-f-]{36}$/);
    expect(events[1].payload).toMatchObject({ callId, ok: true });
  });

  it('tells concurrent calls of one tool in one session apart in the audit log', async () => {
    const client = await h.connect(token);
    const keys = ['north', 'south', 'east'];
    await Promise.all(keys.map((key) => client.callTool({ name: 'lookup', arguments: { key } })));
    const session = (client.transport as { sessionId?: string }).sessionId;
    const events = await h.t.database.orm
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.sessionId, session ?? ''));
    const idsOf = (type: string) => events.filter((e) => e.type === type).map((e) => (e.payload as { callId?: string }).callId);
    const allowed = idsOf('tool.allowed');
    expect(new Set(allowed).size).toBe(keys.length);
    expect(idsOf('tool.result').sort()).toEqual([...allowed].sort());
  });

  it('hides a denied tool from tools/list and refuses it without reaching the upstream', async () => {
    const client = await h.connect(token);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).not.toContain('delete_everything');
    expect(tools.map((t) => t.name)).toContain('lookup');
    const result = await client.callTool({ name: 'delete_everything', arguments: { scope: 'all' } });
    expect(result.isError).toBe(true);
    expect(callText(result)).toContain('bulk deletion is never allowed');
    expect(h.executions().filter((e) => e.tool === 'delete_everything')).toEqual([]);
  });

  it('holds a risky call until a reviewer approves it, then forwards it once', async () => {
    const client = await h.connect(token);
    const call = client.callTool({ name: 'pay', arguments: { to: 'acme', amount: 120 } });
    const request = await h.pending({ tool: 'pay' });
    expect(request.argumentsDigest).toBe(digest({ to: 'acme', amount: 120 }));
    expect(request.rule).toMatchObject({ id: 'big-payments' });
    expect(payCalls()).toEqual([]);
    await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' });
    const result = await call;
    expect(callText(result)).toBe('paid 120 to acme');
    expect(payCalls()).toHaveLength(1);
    const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
    expect(row.status).toBe('approved');
    expect(row.executedAt).not.toBeNull();
    // the call's own events, from its hold to its result, carry one call id
    const events = await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.requestId, request.id)).orderBy(auditEvents.seq);
    const own = events.filter((e) => e.type !== 'approval.vote' && e.type !== 'approval.decided');
    expect(own.map((e) => e.type)).toEqual(['approval.requested', 'tool.forwarded', 'tool.result']);
    const ids = new Set(own.map((e) => (e.payload as { callId?: string }).callId));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^[0-9a-f-]{36}$/);
    // and the console says what became of it
    expect((await getRequestDetail(h.t.database.orm, request.id)).execution).toEqual({
      state: 'ran',
      text: 'yes, once: the upstream answered',
    });
  });

  it('returns the reviewer’s reason when a call is denied, and never executes it', async () => {
    const client = await h.connect(token);
    const before = payCalls().length;
    const call = client.callTool({ name: 'pay', arguments: { to: 'mallory', amount: 9999 } });
    const request = await h.pending({ tool: 'pay' });
    await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'deny', reason: 'unknown payee' });
    const result = (await call) as CallResult;
    expect(result.isError).toBe(true);
    expect(callText(result)).toContain('unknown payee');
    // the reviewer's identity is not the agent's to know
    expect(callText(result)).not.toContain(reviewer.email);
    expect(payCalls()).toHaveLength(before);
  });

  it('keeps the client alive with progress and tells it where to review', async () => {
    const client = await h.connect(token);
    const progress: string[] = [];
    const values: [number, number | undefined][] = [];
    const logs: unknown[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params.data));
    const call = client.callTool({ name: 'pay', arguments: { to: 'acme', amount: 1 } }, CallToolResultSchema, {
      onprogress: (p) => {
        progress.push(p.message ?? '');
        values.push([p.progress, p.total]);
      },
    });
    const request = await h.pending({ tool: 'pay' });
    await eventually(() => progress.length >= 3);
    expect(progress[0]).toContain(`/approvals/${request.id}`);
    expect(logs.join('\n')).toContain('awaits human approval');
    await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' });
    expect(callText(await call)).toBe('paid 1 to acme');
    // the upstream's own progress is relayed too, counted on from Airlock's (MCP: progress increases)
    expect(progress.at(-1)).toBe('paid');
    const waited = values.length - 1;
    expect(values).toEqual([...Array.from({ length: waited }, (_, i) => [i + 1, undefined]), [waited + 1, waited + 1]]);
  });

  it('an owner cannot approve their own agent’s call', async () => {
    const client = await h.connect(token);
    const call = client.callTool({ name: 'pay', arguments: { to: 'self', amount: 5 } });
    const request = await h.pending({ tool: 'pay' });
    await expect(decide(h.t.database, { requestId: request.id, user: { id: owner.id }, decision: 'approve' })).rejects.toMatchObject({
      code: 'forbidden',
    });
    await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'deny', reason: 'no' });
    expect((await call).isError).toBe(true);
  });

  it('a second decision on a decided request is a conflict', async () => {
    const client = await h.connect(token);
    const call = client.callTool({ name: 'pay', arguments: { to: 'x', amount: 2 } });
    const request = await h.pending({ tool: 'pay' });
    await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'deny' });
    await expect(decide(h.t.database, { requestId: request.id, user: { id: second.id }, decision: 'approve' })).rejects.toMatchObject({
      code: 'conflict',
    });
    expect((await call).isError).toBe(true);
  });

  it('cancels a held call when the agent cancels it, and never runs it', async () => {
    const client = await h.connect(token);
    const before = payCalls().length;
    const abort = new AbortController();
    const call = client.callTool({ name: 'pay', arguments: { to: 'cancel', amount: 3 } }, CallToolResultSchema, { signal: abort.signal });
    const request = await h.pending({ tool: 'pay' });
    abort.abort('changed my mind');
    await expect(call).rejects.toThrow();
    const status = await eventually(async () => {
      const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
      return row.status === 'cancelled' && row;
    });
    expect(status.reason).toContain('cancelled');
    await expect(decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' })).rejects.toMatchObject({
      code: 'conflict',
    });
    expect(payCalls()).toHaveLength(before);
  });

  it('a cancellation the database fails to record is retried, so the request does not stay approvable', async () => {
    const client = await h.connect(token);
    const abort = new AbortController();
    const call = client.callTool({ name: 'pay', arguments: { to: 'retry-cancel', amount: 3 } }, CallToolResultSchema, {
      signal: abort.signal,
    });
    const request = await h.pending({ tool: 'pay' });
    // the database refuses to cancel this request, for now (a failover, a full disk)
    await h.t.database.orm.execute(sql`create function test_fail_cancel() returns trigger language plpgsql
      as $$ begin raise exception 'cancellation refused by the test'; end $$`);
    await h.t.database.orm.execute(
      sql.raw(`create trigger test_fail_cancel before update on approval_requests for each row
        when (new.status = 'cancelled' and old.id = '${request.id}') execute function test_fail_cancel()`),
    );
    try {
      abort.abort('changed my mind');
      await expect(call).rejects.toThrow();
      await sleep(1500);
      const [held] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
      expect(held.status).toBe('pending');
    } finally {
      await h.t.database.orm.execute(sql`drop trigger test_fail_cancel on approval_requests`);
      await h.t.database.orm.execute(sql`drop function test_fail_cancel()`);
    }
    // the database takes it again: the cancellation lands, and nobody can approve the call any more
    await eventually(async () => {
      const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
      return row.status === 'cancelled';
    });
    await expect(decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' })).rejects.toMatchObject({
      code: 'conflict',
    });
    expect(paysTo('retry-cancel')).toEqual([]);
  });

  it('cancels held calls when the agent closes its session', async () => {
    const client = await h.connect(token);
    const call = client.callTool({ name: 'pay', arguments: { to: 'closed', amount: 4 } }).catch((e: Error) => e);
    const request = await h.pending({ tool: 'pay' });
    await (client.transport as { terminateSession?: () => Promise<void> }).terminateSession?.();
    await client.close();
    await call;
    await eventually(async () => {
      const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
      return row.status === 'cancelled';
    });
  });

  it('cancels a held call whose agent dropped the connection without a word: its answer could never arrive', async () => {
    // the SDK's client gives up on maxTotalTimeout without notifications/cancelled, and close() sends no DELETE
    const client = await h.connect(token);
    const sessionId = (client.transport as { sessionId?: string }).sessionId ?? '';
    const before = payCalls().length;
    const call = client.callTool({ name: 'pay', arguments: { to: 'dropped', amount: 6 } }).catch((e: Error) => e);
    const request = await h.pending({ tool: 'pay' });
    await client.close();
    await call;
    const row = await eventually(async () => {
      const [found] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
      return found.status === 'cancelled' && found;
    });
    expect(row.reason).toBe('the agent disconnected before the call ran');
    // the session itself stays until it is ended or idle: only the call whose stream is gone ends
    expect(h.airlock.gateway.session(sessionId)).toBeDefined();
    await expect(decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' })).rejects.toMatchObject({
      code: 'conflict',
    });
    const { events } = await searchAudit(h.t.database.orm, { requestId: request.id });
    expect(events.map((e) => e.type)).toContain('approval.cancelled');
    expect(payCalls()).toHaveLength(before);
  });

  it('a session Airlock ends refuses its held call once the cancellation is recorded, and runs nothing that arrives meanwhile', async () => {
    const client = await h.connect(token);
    const call = client.callTool({ name: 'pay', arguments: { to: 'ending', amount: 5 } });
    const request = await h.pending({ tool: 'pay' });
    const session = sessionOf(client);
    const closed = session.close('the test ended it');
    // a call that arrives while the session is ending, as the gateway hands it over
    session.downstream.onmessage?.({
      jsonrpc: '2.0',
      id: 'late',
      method: 'tools/call',
      params: { name: 'lookup', arguments: { key: 'late' } },
    });
    const result = await call;
    // invariant 5: the refusal is visible only after the cancellation is committed
    const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
    expect(row.status).toBe('cancelled');
    expect(result.isError).toBe(true);
    expect(callText(result)).toBe('The call was not executed: the test ended it.');
    await closed;
    const cancelled = await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.type, 'tool.cancelled'));
    expect(cancelled.map((e) => e.payload)).toContainEqual({ callId: expect.any(String), tool: 'lookup', reason: 'the test ended it' });
    // invariant 3: the late call never reached the upstream
    expect(h.executions().filter((e) => e.tool === 'lookup' && (e.args as { key?: string } | undefined)?.key === 'late')).toEqual([]);
  });

  it('a session ending just after an approval records why its call did not run', async () => {
    const client = await h.connect(token);
    const call = client.callTool({ name: 'pay', arguments: { to: 'ended-approved', amount: 9 } });
    const request = await h.pending({ tool: 'pay' });
    const session = sessionOf(client);
    await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' });
    const closed = session.close('the test ended it'); // before the holder has read the outcome
    const result = await call;
    await closed;
    const events = await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.requestId, request.id));
    // invariant 5: the refusal came after a row saying why
    expect(events.map((e) => e.type)).toContain('tool.cancelled');
    expect(result.isError).toBe(true);
    expect(paysTo('ended-approved')).toEqual([]);
  });

  it('a held tool’s call arriving while the session ends creates no approval request', async () => {
    const client = await h.connect(token);
    await client.listTools();
    const session = sessionOf(client);
    const first = client.callTool({ name: 'pay', arguments: { to: 'ending-first', amount: 1 } });
    await h.pending({ tool: 'pay' });
    const closed = session.close('the test ended it');
    session.downstream.onmessage?.({
      jsonrpc: '2.0',
      id: 'late-pay',
      method: 'tools/call',
      params: { name: 'pay', arguments: { to: 'ending-late', amount: 2 } },
    });
    await closed;
    await first;
    const requests = await h.t.database.orm.select().from(approvalRequests);
    expect(requests.filter((r) => (r.arguments as { to?: string }).to === 'ending-late')).toEqual([]);
    const cancelled = await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.type, 'tool.cancelled'));
    expect(cancelled.map((e) => e.payload)).toContainEqual({ callId: expect.any(String), tool: 'pay', reason: 'the test ended it' });
  });

  it('a request reusing a held call’s id leaves the call tracked: the agent can still cancel it, and it never runs', async () => {
    const client = await h.connect(token);
    await client.listTools();
    const session = sessionOf(client);
    const inject = (message: Parameters<NonNullable<typeof session.downstream.onmessage>>[0]) => session.downstream.onmessage?.(message);
    inject({ jsonrpc: '2.0', id: 'dup', method: 'tools/call', params: { name: 'pay', arguments: { to: 'reused-id', amount: 1 } } });
    const request = await h.pending({ tool: 'pay' });
    inject({ jsonrpc: '2.0', id: 'dup', method: 'ping' });
    inject({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'dup', reason: 'changed my mind' } });
    await eventually(async () => {
      const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
      return row.status === 'cancelled';
    });
    expect(paysTo('reused-id')).toEqual([]);
  });

  it('an approved call whose outcome was slow to read re-reads the tool list before it runs', async () => {
    const client = await h.connect(token);
    await client.listTools();
    const session = sessionOf(client);
    // an upstream that changes a tool without notifications/tools/list_changed
    session.tools.invalidate = () => {};
    // and an outcome read that stalls (a busy pool, a failover): the approval is announced long before it is read
    const holds = h.airlock.gateway.context.holds;
    const check = holds.check.bind(holds);
    let stallUntil = 0;
    holds.check = async (ids) => {
      while (Date.now() < stallUntil) await sleep(50);
      return check(ids);
    };
    try {
      const call = client.callTool({ name: 'pay', arguments: { to: 'late-drift', amount: 3 } });
      const request = await h.pending({ tool: 'pay' });
      stallUntil = Date.now() + 1500;
      await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' });
      await sleep(300); // the announced re-read has seen the old definition
      await client.callTool({ name: 'rewrite_pay', arguments: {} });
      const result = await call;
      expect(result.isError).toBe(true);
      expect(callText(result)).toContain('changed while the call awaited approval');
      expect(paysTo('late-drift')).toEqual([]);
    } finally {
      holds.check = check;
    }
  });

  /** An initialized MCP session over raw HTTP, for messages the SDK's client would not send together. */
  async function rawSession(): Promise<{ sessionId: string; post: (body: unknown, signal?: AbortSignal) => Promise<Response> }> {
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` };
    const init = await fetch(`${h.url}/mcp/fixture`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      }),
    });
    expect(init.status).toBe(200);
    const sessionId = init.headers.get('mcp-session-id') ?? '';
    expect(sessionId).not.toBe('');
    await init.text();
    const session = { ...headers, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' };
    const post = (message: unknown, signal?: AbortSignal) =>
      fetch(`${h.url}/mcp/fixture`, { method: 'POST', headers: session, signal, body: JSON.stringify(message) });
    await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).text();
    return { sessionId, post };
  }

  it('a cancellation sent with the call, before the hold is recorded, still ends it unrun', async () => {
    const before = payCalls().length;
    // raw HTTP: the call and its cancellation in one POST, faster than any hold can be recorded
    const { sessionId, post } = await rawSession();
    const controller = new AbortController();
    void post(
      [
        { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'pay', arguments: { to: 'raced', amount: 1 } } },
        { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7, reason: 'changed my mind' } },
      ],
      controller.signal,
    ).catch(() => {});
    // the gateway saw the call and records it cancelled; no hold is created for a call already cancelled
    const cancelled = await eventually(async () => {
      const rows = await h.t.database.orm
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.type, 'tool.cancelled'), eq(auditEvents.sessionId, sessionId)));
      return rows.length === 1 && rows;
    });
    expect(cancelled[0].payload).toEqual({ callId: expect.any(String), tool: 'pay', reason: 'the agent cancelled the call' });
    expect(await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.sessionId, sessionId))).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(payCalls()).toHaveLength(before);
    controller.abort();
  });

  it('a refused call the agent cancelled gets no answer; its refusal is still recorded', async () => {
    const { sessionId, post } = await rawSession();
    const call = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'delete_everything', arguments: {} } });
    // the refusal waits for the tool list, so the cancellation in the same POST comes first
    const cancelled = await post([call(8), { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 8 } }]);
    // the POST's stream ends without an answer to 8 (MCP: a cancelled request is not answered)
    expect(await cancelled.text()).not.toContain('"id":8');
    const answered = await (await post(call(9))).text();
    expect(answered).toContain('"id":9');
    expect(answered).toContain('bulk deletion is never allowed');
    const denied = await h.t.database.orm
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.type, 'tool.denied'), eq(auditEvents.sessionId, sessionId)));
    expect(denied).toHaveLength(2);
  });

  it('revoking an agent cancels its held calls and closes its sessions; nothing it held runs', async () => {
    const agentToken = await h.agent(owner.email, 'to-be-revoked');
    const client = await h.connect(agentToken);
    const before = payCalls().length;
    const call = client.callTool({ name: 'pay', arguments: { to: 'revoked', amount: 2 } }).catch((error: Error) => error);
    const request = await h.pending({ tool: 'pay' });
    await revokeAgent(h.t.database, { name: 'to-be-revoked' });
    const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
    expect(row.status).toBe('cancelled');
    await expect(decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' })).rejects.toMatchObject({
      code: 'conflict',
    });
    await call;
    expect(payCalls()).toHaveLength(before);
    await expect(client.callTool({ name: 'lookup', arguments: { key: 'after' } })).rejects.toThrow();
  });

  it('refuses an approval whose arguments do not match what was held', async () => {
    const client = await h.connect(token);
    const before = payCalls().length;
    const call = client.callTool({ name: 'pay', arguments: { to: 'acme', amount: 10 } });
    const request = await h.pending({ tool: 'pay' });
    // an approval record carrying other arguments under the original digest (a tampered row)
    await h.t.database.orm.transaction(async (tx) => {
      await tx
        .update(approvalRequests)
        .set({
          status: 'approved',
          decidedAt: new Date(),
          approvedArguments: { to: 'mallory', amount: 10_000 },
          approvedArgumentsDigest: request.argumentsDigest,
        })
        .where(eq(approvalRequests.id, request.id));
      await tx.execute(sql`select pg_notify('airlock_approvals', ${JSON.stringify({ id: request.id, status: 'approved' })})`);
    });
    const result = await call;
    expect(result.isError).toBe(true);
    expect(callText(result)).toContain('not executed');
    expect(payCalls()).toHaveLength(before);
  });

  it('refuses an approved call whose tool definition changed while it was held', async () => {
    const client = await h.connect(token);
    await client.listTools();
    const before = payCalls().length;
    const call = client.callTool({ name: 'pay', arguments: { to: 'acme', amount: 11 } });
    const request = await h.pending({ tool: 'pay' });
    await client.callTool({ name: 'rewrite_pay', arguments: {} });
    await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' });
    const result = await call;
    expect(result.isError).toBe(true);
    expect(callText(result)).toContain('definition of tool pay changed');
    expect(payCalls()).toHaveLength(before);
    expect((await getRequestDetail(h.t.database.orm, request.id)).execution).toEqual({
      state: 'not_run',
      text: 'no: refused when it was to run: The definition of tool pay changed while the call awaited approval.',
    });
  });

  it('a refusal at execution whose audit row cannot be written tells the agent only that nothing ran', async () => {
    const client = await h.connect(token);
    await client.listTools();
    const before = payCalls().length;
    const call = client.callTool({ name: 'pay', arguments: { to: 'unrecorded-drift', amount: 12 } });
    const request = await h.pending({ tool: 'pay' });
    await client.callTool({ name: 'rewrite_pay', arguments: {} });
    // the database refuses exactly this refusal's audit row, as a full disk or a lost connection would
    await h.t.database.orm.execute(sql`create function test_refuse_drift_row() returns trigger language plpgsql
      as $$ begin raise exception 'audit row refused by the test'; end $$`);
    await h.t.database.orm.execute(sql`create trigger test_refuse_drift_row before insert on audit_events
      for each row when (new.type = 'tool.drift_refused') execute function test_refuse_drift_row()`);
    try {
      await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' });
      const result = await call;
      expect(result.isError).toBe(true);
      expect(callText(result)).toBe('Airlock could not record this call in its audit log, so it was not executed.');
      expect(callText(result)).not.toContain('definition');
      expect(payCalls()).toHaveLength(before);
    } finally {
      await h.t.database.orm.execute(sql`drop trigger test_refuse_drift_row on audit_events`);
      await h.t.database.orm.execute(sql`drop function test_refuse_drift_row()`);
    }
    const drift = await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.requestId, request.id));
    expect(drift.map((e) => e.type)).not.toContain('tool.drift_refused');
  });

  it('a session grant lets matching calls through until the tool’s definition changes', async () => {
    const client = await h.connect(token);
    const first = client.callTool({ name: 'pay', arguments: { to: 'acme', amount: 20 } });
    const request = await h.pending({ tool: 'pay' });
    await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve', grantMinutes: 10 });
    expect(callText(await first)).toBe('paid 20 to acme');
    // granted: no new request, straight through
    expect(callText(await client.callTool({ name: 'pay', arguments: { to: 'acme', amount: 21 } }))).toBe('paid 21 to acme');
    // the upstream changes the tool: the grant was for the definition the reviewer saw
    await client.callTool({ name: 'rewrite_pay', arguments: {} });
    const before = payCalls().length;
    const third = client.callTool({ name: 'pay', arguments: { to: 'acme', amount: 22 } });
    const held = await h.pending({ tool: 'pay' });
    expect(held.id).not.toBe(request.id);
    expect(payCalls()).toHaveLength(before);
    await decide(h.t.database, { requestId: held.id, user: { id: reviewer.id }, decision: 'deny' });
    expect((await third).isError).toBe(true);
  });

  it('answers an unknown tool with a JSON-RPC error without contacting a hold', async () => {
    const client = await h.connect(token);
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(/Unknown tool: no_such_tool/);
  });

  it('keeps an intact audit chain through all of it', async () => {
    const result = await verifyAudit(h.t.database.orm);
    expect(result).toMatchObject({ ok: true });
    const types = new Set((await h.t.database.orm.select({ type: auditEvents.type }).from(auditEvents)).map((r) => r.type));
    for (const type of [
      'tool.allowed',
      'tool.result',
      'tool.denied',
      'approval.requested',
      'approval.vote',
      'approval.decided',
      'approval.cancelled',
      'tool.forwarded',
    ]) {
      expect(types).toContain(type);
    }
  });
});

describe.each(backends())('gateway timeouts and quorum on %s', (backend) => {
  let h: TestAirlock;
  let reviewers: Person[];
  let token: string;

  beforeAll(async () => {
    h = await startTestAirlock(backend, {
      rules: [
        { id: 'quick', tool: 'delete_everything', action: 'require_approval', timeoutSeconds: 1 },
        { id: 'two-people', tool: 'pay', action: 'require_approval', quorum: 2 },
      ],
    });
    const owner = await h.person('approver');
    reviewers = [await h.person('approver'), await h.person('approver')];
    token = await h.agent(owner.email);
  });
  afterAll(() => h?.close());

  it('expires a call nobody decides in time and never runs it', async () => {
    const client: Client = await h.connect(token);
    const result = (await client.callTool({ name: 'delete_everything', arguments: { scope: 'all' } })) as CallResult;
    expect(result.isError).toBe(true);
    expect(callText(result)).toContain('expired');
    const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.tool, 'delete_everything'));
    expect(row.status).toBe('expired');
    expect(h.executions().filter((e) => e.tool === 'delete_everything')).toEqual([]);
  });

  it('needs two distinct approvers on a 2-of-2 rule', async () => {
    const client = await h.connect(token);
    let settled = false;
    const call = client.callTool({ name: 'pay', arguments: { to: 'acme', amount: 500 } }).finally(() => {
      settled = true;
    });
    const request = await eventually(async () => {
      const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.tool, 'pay'));
      return row;
    });
    const first = await decide(h.t.database, { requestId: request.id, user: { id: reviewers[0].id }, decision: 'approve' });
    expect(first.final).toBe(false);
    await expect(decide(h.t.database, { requestId: request.id, user: { id: reviewers[0].id }, decision: 'approve' })).rejects.toMatchObject(
      {
        code: 'conflict',
      },
    );
    // nor can they change their vote: a deny would settle the request, and is refused with nothing changed
    await expect(decide(h.t.database, { requestId: request.id, user: { id: reviewers[0].id }, decision: 'deny' })).rejects.toMatchObject({
      code: 'conflict',
    });
    const [still] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
    expect(still).toMatchObject({ status: 'pending', decidedAt: null, reason: null });
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
    const final = await decide(h.t.database, { requestId: request.id, user: { id: reviewers[1].id }, decision: 'approve' });
    expect(final).toMatchObject({ final: true, approvals: 2 });
    expect(callText(await call)).toBe('paid 500 to acme');
  });

  it('an approval by someone since disabled or demoted does not count toward the quorum', async () => {
    const leaving = await h.person('approver');
    const staying = await h.person('approver');
    const client = await h.connect(token);
    let settled = false;
    const call = client.callTool({ name: 'pay', arguments: { to: 'acme', amount: 501 } }).finally(() => {
      settled = true;
    });
    const request = await h.pending({ tool: 'pay' });
    await decide(h.t.database, { requestId: request.id, user: { id: leaving.id }, decision: 'approve' });
    await setUserRole(h.t.database, { email: leaving.email, role: 'auditor' });
    // the console counts as the quorum does: the demoted approver's vote is not shown as counting
    expect((await getQueueItem(h.t.database.orm, request.id))?.approvals).toBe(0);
    expect((await getRequestDetail(h.t.database.orm, request.id)).approvals).toBe(0);
    const second = await decide(h.t.database, { requestId: request.id, user: { id: staying.id }, decision: 'approve' });
    expect(second).toMatchObject({ final: false, approvals: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
    await decide(h.t.database, { requestId: request.id, user: { id: reviewers[0].id }, decision: 'approve' });
    expect(callText(await call)).toBe('paid 501 to acme');
  });
});

/**
 * A Streamable HTTP upstream whose tools/list answers only when the test releases it: what a
 * slow or stuck server looks like to Airlock's own requests.
 */
/** A raw Streamable HTTP upstream whose tools/list waits for release(); with failCalls, every tools/call gets HTTP 502. */
async function stalledListUpstream({ failCalls = false } = {}) {
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let listed = () => {};
  const listing = new Promise<void>((resolve) => {
    listed = resolve;
  });
  const server = createServer(async (req, res) => {
    if (req.method !== 'POST') return void res.writeHead(req.method === 'DELETE' ? 200 : 405).end();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const message = JSON.parse(Buffer.concat(chunks).toString()) as {
      id?: number | string;
      method: string;
      params?: { protocolVersion?: string };
    };
    const answer = (result: unknown) =>
      res
        .writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'stalled' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }));
    if (message.id === undefined) return void res.writeHead(202).end();
    if (message.method === 'initialize') {
      return answer({
        protocolVersion: message.params?.protocolVersion,
        capabilities: { tools: {} },
        serverInfo: { name: 'stalled', version: '1' },
      });
    }
    if (message.method === 'tools/call' && failCalls) return void res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway');
    if (message.method === 'tools/list') {
      listed();
      await released;
      return answer({ tools: [{ name: 'look', inputSchema: { type: 'object' }, annotations: { readOnlyHint: true } }] });
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ jsonrpc: '2.0', id: message.id, error: { code: -32601, message: 'no' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  return {
    url,
    listing,
    release,
    close: () => {
      release();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe.each(backends())('gateway with a stalled HTTP upstream on %s', (backend) => {
  it('a session ending while its call waits for the tool list answers the call at once, not after the upstream', async () => {
    const upstream = await stalledListUpstream();
    const h = await startTestAirlock(backend, { upstreams: { stalled: { transport: 'http', url: upstream.url } } });
    try {
      const owner = await h.person('approver');
      const client = await h.connect(await h.agent(owner.email), 'stalled');
      const call = client.callTool({ name: 'look', arguments: {} });
      await upstream.listing;
      const session = h.airlock.gateway.session((client.transport as { sessionId?: string }).sessionId ?? '');
      await session?.close('the test ended it');
      // answered before the upstream's list came back: the call gets its refusal, and it never ran
      const result = (await call) as CallResult;
      expect(result.isError).toBe(true);
      expect(callText(result)).toContain('not executed');
      const refused = await h.t.database.orm.select().from(auditEvents).where(eq(auditEvents.type, 'tool.refused'));
      expect(refused.map((e) => (e.payload as { tool: string }).tool)).toEqual(['look']);
    } finally {
      await upstream.close();
      await h.close();
    }
  });

  it('a call the upstream could not be sent is recorded as interrupted before the agent is told', async () => {
    const upstream = await stalledListUpstream({ failCalls: true });
    upstream.release();
    const h = await startTestAirlock(backend, { upstreams: { failing: { transport: 'http', url: upstream.url } } });
    try {
      const owner = await h.person('approver');
      const client = await h.connect(await h.agent(owner.email), 'failing');
      await expect(client.callTool({ name: 'look', arguments: {} })).rejects.toThrow(/upstream failing is unavailable: .*bad gateway/);
      const events = await h.t.database.orm
        .select()
        .from(auditEvents)
        .where(sql`${auditEvents.type} like 'tool.%'`)
        .orderBy(auditEvents.seq);
      // every call has an end in the log: here, that its outcome at the upstream is unknown
      expect(events.map((e) => e.type)).toEqual(['tool.allowed', 'tool.interrupted']);
      expect(events[1].payload).toMatchObject({ upstream: 'failing', tool: 'look', reason: expect.stringMatching(/bad gateway/) });
      // and the session goes on serving
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['look']);
    } finally {
      await upstream.close();
      await h.close();
    }
  });
});

describe.runIf(backends().includes('postgres'))('an approved call the agent cancels while its claim commits, on postgres', () => {
  it('is not sent, and both the audit log and the console say its approval was used up', async () => {
    const h = await startTestAirlock('postgres', { rules: [{ id: 'pay', tool: 'pay', action: 'require_approval', timeoutSeconds: 60 }] });
    try {
      const owner = await h.person('approver');
      const reviewer = await h.person('approver');
      const client = await h.connect(await h.agent(owner.email));
      const abort = new AbortController();
      const call = client.callTool({ name: 'pay', arguments: { to: 'mid-claim', amount: 1 } }, CallToolResultSchema, {
        signal: abort.signal,
      });
      const request = await h.pending({ tool: 'pay' });
      // the claim (the update that sets executed_at) takes a second: the agent's cancellation lands inside it
      await h.t.database.orm.execute(sql`create function test_slow_claim() returns trigger language plpgsql as $$
        begin if new.executed_at is not null and old.executed_at is null then perform pg_sleep(1); end if; return new; end $$`);
      await h.t.database.orm.execute(sql`create trigger test_slow_claim before update on approval_requests
        for each row execute function test_slow_claim()`);
      await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' });
      await eventually(async () => {
        const [{ active }] = (await h.t.database.orm.execute(
          sql`select count(*)::int as active from pg_stat_activity where wait_event = 'PgSleep' and datname = current_database()`,
        )) as unknown as [{ active: number }];
        return active > 0;
      });
      abort.abort('changed my mind');
      await expect(call).rejects.toThrow();
      const events = await eventually(async () => {
        const rows = await h.t.database.orm
          .select()
          .from(auditEvents)
          .where(eq(auditEvents.requestId, request.id))
          .orderBy(auditEvents.seq);
        return rows.some((e) => e.type === 'tool.cancelled') && rows;
      });
      expect(events.map((e) => e.type).slice(-2)).toEqual(['tool.forwarded', 'tool.cancelled']);
      expect(events.at(-1)?.payload).toMatchObject({ tool: 'pay', approvalUsed: true });
      expect(h.executions().filter((e) => e.event === 'call' && e.tool === 'pay')).toEqual([]);
      expect((await getRequestDetail(h.t.database.orm, request.id)).execution).toEqual({
        state: 'not_run',
        text: 'no: the agent cancelled it as it was being sent; the approval is used up',
      });
    } finally {
      await h.close();
    }
  });
});

// several instances, each with its own clock, share one PostgreSQL (PGlite lives in its process, on its clock)
describe.runIf(backends().includes('postgres'))('an Airlock instance whose clock runs an hour ahead of PostgreSQL’s', () => {
  it('expires no held call early, and reviewers can still decide there: the database’s clock sets deadlines', async () => {
    const h = await startTestAirlock('postgres', { rules: [{ id: 'pay', tool: 'pay', action: 'require_approval', timeoutSeconds: 60 }] });
    try {
      const owner = await h.person('approver');
      const reviewer = await h.person('approver');
      const client = await h.connect(await h.agent(owner.email));
      const call = client.callTool({ name: 'pay', arguments: { to: 'skewed', amount: 1 } });
      const request = await h.pending({ tool: 'pay' });
      // another instance, whose clock runs an hour ahead, sweeps for overdue requests and takes decisions
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 3_600_000);
      expect(await expireOverdue(h.t.database)).toEqual([]);
      await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' });
      expect(callText(await call)).toBe('paid 1 to skewed');
    } finally {
      vi.useRealTimers();
      await h.close();
    }
  });

  it('the holder whose clock runs ahead still expires its call, at the database’s deadline (fail closed)', async () => {
    const h = await startTestAirlock('postgres', { rules: [{ id: 'pay', tool: 'pay', action: 'require_approval', timeoutSeconds: 2 }] });
    try {
      const owner = await h.person('approver');
      const client = await h.connect(await h.agent(owner.email));
      // by this process's clock the deadline has passed as soon as the call is held: its timer fires at once
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 3_600_000);
      const started = performance.now();
      const result = (await client.callTool({ name: 'pay', arguments: { to: 'skewed-expiry', amount: 1 } })) as CallResult;
      expect(result.isError).toBe(true);
      expect(callText(result)).toContain('expired');
      // not before the database's two seconds
      expect(performance.now() - started).toBeGreaterThanOrEqual(1900);
      const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.tool, 'pay'));
      expect(row.status).toBe('expired');
      expect(h.executions().filter((e) => e.tool === 'pay')).toEqual([]);
    } finally {
      vi.useRealTimers();
      await h.close();
    }
  });
});
