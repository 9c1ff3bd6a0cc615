import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../../db/database';
import { approvalRequests, approvalVotes, gatewayInstances, grants } from '../../db/schema';
import { decide } from '../../server/approvals/decide';
import { findGrants, listActiveGrants } from '../../server/approvals/grants';
import { claimExecution, closeRequest, createRequest } from '../../server/approvals/lifecycle';
import { listRequests, ZListQuery } from '../../server/approvals/queries';
import { listQueue } from '../../server/approvals/queue';
import { searchAudit } from '../../server/audit/search';
import { verifyAudit } from '../../server/audit/verify';
import { createAgent, revokeAgent } from '../../server/auth/agents';
import { createUser, setUserDisabled, setUserRole } from '../../server/auth/users';
import { Gateway } from '../../server/gateway/gateway';
import { HOLDER_LOST_REASON } from '../../server/gateway/instances';
import { evaluate } from '../../server/policy/evaluate';
import { ZRule } from '../../server/policy/types';
import { eventually, root, startTestAirlock, type TestAirlock } from '../helpers/airlock';
import { backends, openTestDatabase, type TestDatabase } from '../helpers/db';

const run = promisify(execFile);

describe.each(backends())('decisions on %s', (backend) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await openTestDatabase(backend);
  });
  afterAll(() => t?.close());

  /** The `i`th pending transfer_funds call of an agent (its rpc id and amount), recorded as a holding gateway does. */
  const transfer = (agentId: string, i: number, verdict = evaluate([], 'demo', { name: 'transfer_funds' }), sessionId = 's') =>
    createRequest(t.database, {
      agentId,
      sessionId,
      rpcId: i,
      upstream: 'demo',
      tool: 'transfer_funds',
      arguments: { amount: i },
      toolDefinition: { name: 'transfer_funds' },
      verdict,
      holder: 'test',
    });

  it('lists a page of the queue with the total of its filters, also past the last page', async () => {
    const owner = await createUser(t.database, { email: 'queue-owner@example.com', role: 'approver' });
    const { agent: mover } = await createAgent(t.database, { name: 'queue-mover', ownerEmail: owner.email });
    const { agent: other } = await createAgent(t.database, { name: 'queue-other', ownerEmail: owner.email });
    for (let i = 0; i < 7; i++) await transfer(mover.id, 100 + i, undefined, 'queue-session');
    for (let i = 0; i < 3; i++) await transfer(other.id, 200 + i, undefined, 'queue-session');
    const first = await listQueue(t.database.orm, { agent: 'queue-mover', limit: 5 });
    expect(first.items.map((i) => i.agent.name)).toEqual(Array(5).fill('queue-mover'));
    expect(first.total).toBe(7);
    expect((await listQueue(t.database.orm, { agent: 'queue-mover', limit: 5, offset: 5 })).total).toBe(7);
    // a page past the end has no row to carry the total: it is counted alone
    expect(await listQueue(t.database.orm, { agent: 'queue-mover', limit: 5, offset: 50 })).toEqual({ items: [], total: 7 });
    expect(await listQueue(t.database.orm, { agent: 'nobody' })).toEqual({ items: [], total: 0 });
    const others = await listQueue(t.database.orm, { agent: 'queue-other', sort: 'newest' });
    expect(others.items.map((i) => (i.argumentsPreview.match(/\d+/) ?? [])[0])).toEqual(['202', '201', '200']);
    expect(others.total).toBe(3);
    // the text search filters the count as it does the rows
    expect(await listQueue(t.database.orm, { q: 'QUEUE-OTH', limit: 2 })).toMatchObject({ total: 3, items: [{}, {}] });
  });

  it('1,000 concurrent double decisions yield exactly one outcome each', async () => {
    const owner = await createUser(t.database, { email: 'owner@example.com', role: 'approver' });
    const alice = await createUser(t.database, { email: 'alice@example.com', role: 'approver' });
    const bob = await createUser(t.database, { email: 'bob@example.com', role: 'approver' });
    const { agent } = await createAgent(t.database, { name: 'racer', ownerEmail: owner.email });
    const verdict = evaluate([], 'demo', { name: 'transfer_funds' });
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) {
      ids.push((await transfer(agent.id, i, verdict)).id);
    }
    const results = await Promise.allSettled(
      ids.flatMap((requestId) => [
        decide(t.database, { requestId, user: { id: alice.id }, decision: 'approve' }),
        decide(t.database, { requestId, user: { id: bob.id }, decision: 'deny', reason: 'race' }),
      ]),
    );
    const rows = new Map((await t.database.orm.select().from(approvalRequests)).map((r) => [r.id, r]));
    const votes = await t.database.orm.select().from(approvalVotes);
    expect(votes).toHaveLength(1000);
    ids.forEach((id, i) => {
      const [approve, deny] = [results[2 * i], results[2 * i + 1]];
      const winners = [approve, deny].filter((r) => r.status === 'fulfilled');
      expect(winners).toHaveLength(1);
      const loser = [approve, deny].find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(loser.reason).toMatchObject({ code: 'conflict' });
      expect(rows.get(id)?.status).toBe(approve.status === 'fulfilled' ? 'approved' : 'denied');
    });
    // 2,000 decisions appended their audit rows from concurrent transactions (parallel connections on
    // PostgreSQL): the chain must still be one unbroken order
    expect(await verifyAudit(t.database.orm)).toMatchObject({ ok: true });
  }, 240_000);

  it('an approved call is claimed once among 20 concurrent claims, with one audit row; a pending one or a revoked agent’s never', async () => {
    const owner = await createUser(t.database, { email: 'claim-owner@example.com', role: 'approver' });
    const reviewer = await createUser(t.database, { email: 'claim-reviewer@example.com', role: 'approver' });
    const verdict = evaluate([], 'demo', { name: 'transfer_funds' });
    const held = (agentId: string, amount: number) => transfer(agentId, amount, verdict);
    const forwarded = async (requestId: string) =>
      (await searchAudit(t.database.orm, { type: 'tool.forwarded', limit: 500 })).events.filter((e) => e.requestId === requestId);
    const { agent } = await createAgent(t.database, { name: 'claimer', ownerEmail: owner.email });

    const pending = await held(agent.id, 1);
    expect(await claimExecution(t.database, { id: pending.id, argumentsDigest: pending.argumentsDigest, agentId: agent.id })).toBe(false);
    expect(await forwarded(pending.id)).toEqual([]);

    const approved = await held(agent.id, 2);
    await decide(t.database, { requestId: approved.id, user: { id: reviewer.id }, decision: 'approve' });
    const claims = await Promise.all(
      Array.from({ length: 20 }, () =>
        claimExecution(t.database, { id: approved.id, argumentsDigest: approved.argumentsDigest, agentId: agent.id }),
      ),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await forwarded(approved.id)).toHaveLength(1);
    const [row] = await t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, approved.id));
    expect(row.executedAt).not.toBeNull();
    // closing a request someone decided changes nothing and records nothing
    const reason = 'too late to cancel';
    expect(await closeRequest(t.database, { id: approved.id, status: 'cancelled', reason, actor: { type: 'system' } })).toBe(false);
    const events = (await searchAudit(t.database.orm, { type: 'approval.cancelled', limit: 500 })).events;
    expect(events.filter((e) => e.requestId === approved.id)).toEqual([]);

    const { agent: revoked } = await createAgent(t.database, { name: 'claimer-revoked', ownerEmail: owner.email });
    const late = await held(revoked.id, 3);
    await decide(t.database, { requestId: late.id, user: { id: reviewer.id }, decision: 'approve' });
    await revokeAgent(t.database, { agentId: revoked.id });
    expect(await claimExecution(t.database, { id: late.id, argumentsDigest: late.argumentsDigest, agentId: revoked.id })).toBe(false);
    expect(await forwarded(late.id)).toEqual([]);
    expect(await verifyAudit(t.database.orm)).toMatchObject({ ok: true });
  });

  it('revoking agents while their calls are decided neither deadlocks nor lets a decision outlive the revocation', async () => {
    const owner = await createUser(t.database, { email: 'revoke-owner@example.com', role: 'approver' });
    const reviewer = await createUser(t.database, { email: 'revoke-reviewer@example.com', role: 'approver' });
    const verdict = evaluate([], 'demo', { name: 'transfer_funds' });
    const pairs = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const { agent } = await createAgent(t.database, { name: `revoked-racer-${i}`, ownerEmail: owner.email });
        return { agent, request: await transfer(agent.id, i, verdict) };
      }),
    );
    // a decision locks its request, then appends to the audit chain; a revocation must take the rows it changes in the same order
    const results = await Promise.allSettled(
      pairs.flatMap(({ agent, request }) => [
        decide(t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' }),
        revokeAgent(t.database, { agentId: agent.id }),
      ]),
    );
    const rows = new Map((await t.database.orm.select().from(approvalRequests)).map((r) => [r.id, r]));
    pairs.forEach(({ request }, i) => {
      const [decision, revocation] = [results[2 * i], results[2 * i + 1]];
      expect(revocation.status, String((revocation as PromiseRejectedResult).reason)).toBe('fulfilled');
      // either the decision came first (approved, never to be claimed) or the revocation did (cancelled, decision refused)
      if (decision.status === 'rejected') {
        expect(decision.reason).toMatchObject({ code: 'conflict' });
        expect(rows.get(request.id)?.status).toBe('cancelled');
      } else expect(rows.get(request.id)?.status).toBe('approved');
    });
    expect(await verifyAudit(t.database.orm)).toMatchObject({ ok: true });
  }, 60_000);

  it('revoking agents and disabling owners while their calls are decided (with grants, or by the owner) never deadlocks', async () => {
    const reviewer = await createUser(t.database, { email: 'grant-reviewer@example.com', role: 'approver' });
    const verdict = evaluate(
      [ZRule.parse({ id: 'grantable', tool: 'transfer_funds', action: 'require_approval', maxGrantMinutes: 30 })],
      'demo',
      {
        name: 'transfer_funds',
      },
    );
    const races = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const owner = await createUser(t.database, { email: `grant-owner-${i}@example.com`, role: 'approver' });
        const { agent } = await createAgent(t.database, { name: `grant-racer-${i}`, ownerEmail: owner.email });
        const request = await transfer(agent.id, i, verdict, `s${i}`);
        // even: an approval with a session grant (inserting the grant checks the agent row) against revoking the agent;
        // odd: the owner denying (the vote checks the owner's row) against disabling the owner
        return i % 2 === 0
          ? [
              decide(t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve', grantMinutes: 10 }),
              revokeAgent(t.database, { agentId: agent.id }),
            ]
          : [
              decide(t.database, { requestId: request.id, user: { id: owner.id }, decision: 'deny', reason: 'mine' }),
              setUserDisabled(t.database, { userId: owner.id, disabled: true }),
            ];
      }),
    );
    const results = await Promise.allSettled(races.flat());
    for (const [i, result] of results.entries()) {
      const decision = i % 2 === 0;
      if (result.status === 'rejected') {
        // a decision may lose the race (the request was cancelled first, or the owner disabled); nothing else may fail
        expect({ i, decision, reason: String(result.reason) }).toMatchObject({
          decision: true,
          reason: expect.stringMatching(/cancelled|disabled/),
        });
      }
    }
    expect(await verifyAudit(t.database.orm)).toMatchObject({ ok: true });
  }, 60_000);

  it('refuses edited arguments with no RFC 8785 form as bad input, changing nothing', async () => {
    const owner = await createUser(t.database, { email: 'edit-owner@example.com', role: 'approver' });
    const reviewer = await createUser(t.database, { email: 'edit-reviewer@example.com', role: 'approver' });
    const { agent } = await createAgent(t.database, { name: 'edited', ownerEmail: owner.email });
    const verdict = evaluate(
      [ZRule.parse({ id: 'editable', tool: 'transfer_funds', action: 'require_approval', allowEdit: true })],
      'demo',
      {
        name: 'transfer_funds',
      },
    );
    const request = await transfer(agent.id, 1, verdict);
    // what JSON.parse makes of 1e999, and a lone surrogate: a body can carry both
    for (const edited of [{ amount: Number.POSITIVE_INFINITY }, { to: '\ud800' }]) {
      await expect(
        decide(t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve', arguments: edited }),
      ).rejects.toMatchObject({ code: 'bad_request', message: expect.stringContaining('RFC 8785') });
    }
    expect(await t.database.orm.select().from(approvalVotes).where(eq(approvalVotes.requestId, request.id))).toEqual([]);
    const [row] = await t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
    expect(row.status).toBe('pending');
  });

  it('refuses a session grant together with edited arguments, changing nothing', async () => {
    const owner = await createUser(t.database, { email: 'edit-grant-owner@example.com', role: 'approver' });
    const reviewer = await createUser(t.database, { email: 'edit-grant-reviewer@example.com', role: 'approver' });
    const { agent } = await createAgent(t.database, { name: 'edit-grant', ownerEmail: owner.email });
    const rule = ZRule.parse({
      id: 'edit-and-grant',
      tool: 'transfer_funds',
      action: 'require_approval',
      allowEdit: true,
      maxGrantMinutes: 30,
    });
    const request = await transfer(agent.id, 1, evaluate([rule], 'demo', { name: 'transfer_funds' }));
    await expect(
      decide(t.database, {
        requestId: request.id,
        user: { id: reviewer.id },
        decision: 'approve',
        arguments: { amount: 0 },
        grantMinutes: 10,
      }),
    ).rejects.toMatchObject({ code: 'bad_request', message: expect.stringContaining('unedited calls') });
    expect(await t.database.orm.select().from(approvalVotes).where(eq(approvalVotes.requestId, request.id))).toEqual([]);
    // each alone is fine
    const decided = await decide(t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve', grantMinutes: 10 });
    expect(decided.request.status).toBe('approved');
  });

  it('pages through pending requests in queue order without repeats or gaps', async () => {
    const owner = await createUser(t.database, { email: 'pager@example.com', role: 'approver' });
    const { agent } = await createAgent(t.database, { name: 'pager', ownerEmail: owner.email });
    const verdict = evaluate([], 'demo', { name: 'send_email' });
    const created: string[] = [];
    for (let i = 0; i < 7; i++) {
      const request = await createRequest(t.database, {
        agentId: agent.id,
        sessionId: 'p',
        rpcId: i,
        upstream: 'demo',
        tool: 'send_email',
        arguments: { i },
        toolDefinition: { name: 'send_email' },
        verdict,
        holder: 'test',
      });
      created.push(request.id);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const result = await listRequests(t.database.orm, ZListQuery.parse({ status: 'pending', agent: 'pager', limit: 3, cursor }));
      seen.push(...result.items.map((item) => item.id));
      if (!result.nextCursor) break;
      cursor = result.nextCursor;
    }
    expect(seen).toEqual(created);
    await expect(listRequests(t.database.orm, ZListQuery.parse({ status: 'pending', cursor: 'garbage' }))).rejects.toMatchObject({
      code: 'bad_request',
    });
  });

  it('a session grant lets nothing more through once its giver could no longer approve the request', async () => {
    const owner = await createUser(t.database, { email: 'giver-owner@example.com', role: 'approver' });
    const giver = await createUser(t.database, { email: 'giver@example.com', role: 'approver' });
    const { agent } = await createAgent(t.database, { name: 'granted-agent', ownerEmail: owner.email });
    const verdict = evaluate([ZRule.parse({ id: 'grantable', action: 'require_approval', maxGrantMinutes: 30 })], 'demo', {
      name: 'send_email',
    });
    const request = await createRequest(t.database, {
      agentId: agent.id,
      sessionId: 'granted-session',
      rpcId: 1,
      upstream: 'demo',
      tool: 'send_email',
      arguments: {},
      toolDefinition: { name: 'send_email' },
      verdict,
      holder: 'test',
    });
    await decide(t.database, { requestId: request.id, user: { id: giver.id }, decision: 'approve', grantMinutes: 30 });
    const live = () =>
      findGrants(t.database.orm, { agentId: agent.id, sessionId: 'granted-session', upstream: 'demo', tool: 'send_email' }).then(
        (found) => found.length,
      );
    expect(await live()).toBe(1);
    const listed = async () => (await listActiveGrants(t.database.orm)).filter((g) => g.sessionId === 'granted-session').length;
    expect(await listed()).toBe(1);
    await setUserRole(t.database, { email: giver.email, role: 'auditor' });
    expect(await live()).toBe(0);
    // the queue page's list of grants in force agrees
    expect(await listed()).toBe(0);
    await setUserRole(t.database, { email: giver.email, role: 'approver' });
    expect(await live()).toBe(1);
    await setUserDisabled(t.database, { email: giver.email, disabled: true });
    expect(await live()).toBe(0);
  });

  it('the quorum never counts an auditor’s vote, even under a rule that names auditors as approvers', async () => {
    const owner = await createUser(t.database, { email: 'mixed-owner@example.com', role: 'approver' });
    const first = await createUser(t.database, { email: 'mixed-first@example.com', role: 'approver' });
    const second = await createUser(t.database, { email: 'mixed-second@example.com', role: 'approver' });
    const { agent } = await createAgent(t.database, { name: 'mixed-agent', ownerEmail: owner.email });
    const rule = ZRule.parse({ id: 'mixed', action: 'require_approval', approvers: ['approver', 'auditor'], quorum: 2 });
    const request = await transfer(agent.id, 9100, evaluate([rule], 'demo', { name: 'transfer_funds' }));
    expect((await decide(t.database, { requestId: request.id, user: { id: first.id }, decision: 'approve' })).approvals).toBe(1);
    // the first approver is made an auditor: that vote no longer counts, so the second one does not settle it
    await setUserRole(t.database, { email: first.email, role: 'auditor' });
    const secondVote = await decide(t.database, { requestId: request.id, user: { id: second.id }, decision: 'approve' });
    expect(secondVote).toMatchObject({ approvals: 1, final: false });
    expect((await t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id)))[0].status).toBe('pending');
  });

  it.each([
    ['revoking the agent', 'the agent was revoked'],
    ["disabling the agent's owner", "the agent's owner was disabled"],
  ])('%s cancels its held calls and revokes its session grants, audited', async (how, reason) => {
    const slug = how.startsWith('revoking') ? 'revoked' : 'orphaned';
    const owner = await createUser(t.database, { email: `${slug}-owner@example.com`, role: 'approver' });
    const reviewer = await createUser(t.database, { email: `${slug}-reviewer@example.com`, role: 'approver' });
    const { agent } = await createAgent(t.database, { name: `${slug}-agent`, ownerEmail: owner.email });
    const { agent: bystander } = await createAgent(t.database, { name: `${slug}-bystander`, ownerEmail: reviewer.email });
    const verdict = evaluate([ZRule.parse({ id: 'grantable', action: 'require_approval', maxGrantMinutes: 30 })], 'demo', {
      name: 'send_email',
    });
    const hold = (agentId: string, rpcId: number) =>
      createRequest(t.database, {
        agentId,
        sessionId: `${slug}-${agentId}`,
        rpcId,
        upstream: 'demo',
        tool: 'send_email',
        arguments: { rpcId },
        toolDefinition: { name: 'send_email' },
        verdict,
        holder: 'test',
      });
    const granted = await hold(agent.id, 1);
    await decide(t.database, { requestId: granted.id, user: { id: reviewer.id }, decision: 'approve', grantMinutes: 30 });
    const pending = await hold(agent.id, 2);
    const other = await hold(bystander.id, 3);
    await decide(t.database, { requestId: other.id, user: { id: owner.id }, decision: 'approve', grantMinutes: 30 });
    const otherPending = await hold(bystander.id, 4);

    if (how.startsWith('revoking')) await revokeAgent(t.database, { agentId: agent.id });
    else await setUserDisabled(t.database, { email: owner.email, disabled: true });

    const liveGrants = async (agentId: string) =>
      (await t.database.orm.select().from(grants).where(eq(grants.agentId, agentId))).filter((g) => g.revokedAt === null);
    const status = async (id: string) => (await t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, id)))[0];
    expect(await liveGrants(agent.id)).toEqual([]);
    expect(await status(pending.id)).toMatchObject({ status: 'cancelled', reason });
    const events = await searchAudit(t.database.orm, { requestId: granted.id });
    expect(events.events.find((e) => e.type === 'grant.revoked')).toMatchObject({ payload: { reason } });
    // nobody else's
    expect(await liveGrants(bystander.id)).toHaveLength(1);
    expect((await status(otherPending.id)).status).toBe('pending');
    expect(await verifyAudit(t.database.orm)).toMatchObject({ ok: true });
  });
});

describe('one process on PGlite', () => {
  it('cancels, audited, the calls still pending from before a restart: their agents are gone', async () => {
    const t = await openTestDatabase('pglite');
    try {
      const owner = await createUser(t.database, { email: 'restart-owner@example.com', role: 'approver' });
      const { agent } = await createAgent(t.database, { name: 'restart-agent', ownerEmail: owner.email });
      const held = (rpcId: number) =>
        createRequest(t.database, {
          agentId: agent.id,
          sessionId: 'before-restart',
          rpcId,
          upstream: 'demo',
          tool: 'send_email',
          arguments: { rpcId },
          toolDefinition: { name: 'send_email' },
          verdict: evaluate([], 'demo', { name: 'send_email' }),
          holder: 'the-previous-process',
        });
      const requests = [await held(1), await held(2)];
      const gateway = new Gateway({
        database: t.database,
        rules: () => [],
        upstreams: () => ({}),
        publicUrl: 'http://127.0.0.1:1',
        instanceId: 'this-process',
      });
      await gateway.start();
      await gateway.close();
      for (const request of requests) {
        const [row] = await t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id));
        expect(row).toMatchObject({ status: 'cancelled', reason: 'Airlock restarted while the call was held' });
        const { events } = await searchAudit(t.database.orm, { requestId: request.id });
        expect(events[0]).toMatchObject({ type: 'approval.cancelled', actorType: 'system' });
      }
      expect(await verifyAudit(t.database.orm)).toMatchObject({ ok: true });
    } finally {
      await t.close();
    }
  });
});

describe.runIf(backends().includes('postgres'))('several processes on one PostgreSQL', () => {
  let h: TestAirlock;
  let token: string;
  let reviewer: { id: string };

  beforeAll(async () => {
    // a re-check interval longer than the test: only NOTIFY can deliver the first decision in time
    h = await startTestAirlock(
      'postgres',
      { rules: [{ id: 'pay', tool: 'pay', action: 'require_approval' }] },
      { gateway: { recheckMs: 60_000 } },
    );
    const owner = await h.person('approver');
    reviewer = await h.person('approver');
    token = await h.agent(owner.email);
  });
  afterAll(() => h?.close());

  const pending = () =>
    eventually(async () => {
      const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.status, 'pending'));
      return row;
    });

  it('a decision recorded by another process reaches the process holding the call', async () => {
    const client = await h.connect(token);
    const call = client.callTool({ name: 'pay', arguments: { to: 'acme', amount: 7 } });
    const request = await pending();
    const started = Date.now();
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'test/fixtures/decide-process.ts', h.t.url ?? '', request.id, reviewer.id],
      { cwd: root },
    );
    const other = JSON.parse(stdout);
    expect(other).toMatchObject({ status: 'approved' });
    expect(other.pid).not.toBe(process.pid);
    const result = await call;
    expect((result.content as { text: string }[])[0].text).toBe('paid 7 to acme');
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('a decision whose notification was lost is picked up by the periodic re-check', async () => {
    const fast = await startTestAirlock(
      'postgres',
      { rules: [{ id: 'pay', tool: 'pay', action: 'require_approval' }] },
      { gateway: { recheckMs: 300 } },
    );
    try {
      const owner = await fast.person('approver');
      const agentToken = await fast.agent(owner.email);
      const client = await fast.connect(agentToken);
      const call = client.callTool({ name: 'pay', arguments: { to: 'quiet', amount: 8 } });
      const request = await eventually(async () => {
        const [row] = await fast.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.status, 'pending'));
        return row;
      });
      // decided without NOTIFY, as if the notification were dropped
      await fast.t.database.orm.execute(
        sql`update approval_requests set status = 'approved', decided_at = now(), approved_arguments = arguments, approved_arguments_digest = arguments_digest where id = ${request.id}`,
      );
      const result = await call;
      expect((result.content as { text: string }[])[0].text).toBe('paid 8 to quiet');
    } finally {
      await fast.close();
    }
  });

  /** A second Airlock process on `url` whose one rule holds every call, and a call it holds. */
  async function heldByAnotherProcess(watcher: TestAirlock, heartbeatMs: number) {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-lease-'));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'test/fixtures/airlock-process.ts'), watcher.t.url ?? '', join(dir, 'upstream.log')],
      {
        cwd: root,
        env: { ...process.env, FIXTURE_ACTION: 'require_approval', FIXTURE_HEARTBEAT_MS: String(heartbeatMs), AIRLOCK_LOG_LEVEL: 'error' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const stop = () => {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      const [line] = (await once(createInterface({ input: child.stdout as NodeJS.ReadableStream }), 'line')) as [string];
      const { url, token, instanceId } = JSON.parse(line) as { url: string; token: string; instanceId: string };
      const client = new Client({ name: 'lease-agent', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`${url}/mcp/slow`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }),
      );
      void client.callTool({ name: 'echo', arguments: { tag: 'held' } }).catch(() => 'ended');
      const orm = watcher.t.database.orm;
      const request = await eventually(async () => {
        const [row] = await orm.select().from(approvalRequests).where(eq(approvalRequests.holder, instanceId));
        return row;
      });
      const status = async () => (await orm.select().from(approvalRequests).where(eq(approvalRequests.id, request.id)))[0];
      return { child, instanceId, request, status, stop };
    } catch (error) {
      stop();
      throw error;
    }
  }

  const leases = async (watcher: TestAirlock) => (await watcher.t.database.orm.select().from(gatewayInstances)).map((row) => row.id).sort();

  it('a call held by a process that died is cancelled by another; one held by a live process is not', async () => {
    const watcher = await startTestAirlock('postgres', { rules: [] }, { gateway: { heartbeatMs: 100 } });
    const ownLease = watcher.airlock.gateway.context.instanceId;
    const holder = await heldByAnotherProcess(watcher, 100);
    try {
      expect(await leases(watcher)).toEqual([holder.instanceId, ownLease].sort());
      // alive: the watcher has been judging for several leases (600 ms each) and left the call alone
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect((await holder.status()).status).toBe('pending');

      holder.child.kill('SIGKILL');
      const cancelled = await eventually(async () => {
        const row = await holder.status();
        return row.status === 'cancelled' && row;
      });
      expect(cancelled.reason).toBe(HOLDER_LOST_REASON);
      const { events } = await searchAudit(watcher.t.database.orm, { requestId: holder.request.id });
      expect(events[0]).toMatchObject({ type: 'approval.cancelled', actorType: 'system', payload: { reason: HOLDER_LOST_REASON } });
      await eventually(async () => !(await leases(watcher)).includes(holder.instanceId));
      const reviewer = await watcher.person('approver');
      await expect(
        decide(watcher.t.database, { requestId: holder.request.id, user: { id: reviewer.id }, decision: 'approve' }),
      ).rejects.toMatchObject({
        code: 'conflict',
      });
      // a process that stops lets its lease lapse at once (the next sweep forgets it)
      await watcher.airlock.close();
      const [own] = await query<{ lapsed: boolean }>(
        watcher.t.database.orm,
        sql`select lease_until <= now() as lapsed from gateway_instances where id = ${ownLease}`,
      );
      expect(own).toEqual({ lapsed: true });
    } finally {
      holder.stop();
      await watcher.close();
    }
  });

  it('a database stall makes no live process look dead', async () => {
    const watcher = await startTestAirlock('postgres', { rules: [] }, { gateway: { heartbeatMs: 250 } });
    const holder = await heldByAnotherProcess(watcher, 250);
    const admin = (await import('postgres')).default(watcher.t.url ?? '', { max: 2, onnotice: () => {} });
    try {
      // both processes' renewals wait on their rows for 2 s, four times a lease (1.5 s): every lease lapses
      const ownRow = await admin.reserve();
      const holderRow = await admin.reserve();
      await ownRow`begin`;
      await ownRow`select 1 from gateway_instances where id = ${watcher.airlock.gateway.context.instanceId} for update`;
      await holderRow`begin`;
      await holderRow`select 1 from gateway_instances where id = ${holder.instanceId} for update`;
      await new Promise((resolve) => setTimeout(resolve, 2000));
      // the watcher recovers first; the holder 600 ms later, well within a lease
      await ownRow`commit`;
      await new Promise((resolve) => setTimeout(resolve, 600));
      await holderRow`commit`;
      ownRow.release();
      holderRow.release();
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect((await holder.status()).status).toBe('pending');
    } finally {
      await admin.end();
      holder.stop();
      await watcher.close();
    }
  });

  it('fails closed while the database is unreachable, and recovers', async () => {
    const client = await h.connect(token);
    const name = new URL(h.t.url ?? '').pathname.slice(1);
    const admin = (await import('postgres')).default(process.env.DATABASE_URL ?? '', { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`alter database ${name} allow_connections false`);
      await admin.unsafe(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${name}' and pid <> pg_backend_pid()`);
      const before = h.executions().filter((e) => e.event === 'call').length;
      const risky = await client.callTool({ name: 'pay', arguments: { to: 'outage', amount: 9 } }).catch((error: Error) => error);
      const safe = await client.callTool({ name: 'lookup', arguments: { key: 'outage' } }).catch((error: Error) => error);
      for (const outcome of [risky, safe]) {
        if (!(outcome instanceof Error)) expect(outcome.isError).toBe(true);
      }
      expect(h.executions().filter((e) => e.event === 'call')).toHaveLength(before);
    } finally {
      await admin.unsafe(`alter database ${name} allow_connections true`);
      await admin.end();
    }
    const again = await h.connect(token);
    const result = await eventually(() => again.callTool({ name: 'lookup', arguments: { key: 'back' } }).catch(() => undefined));
    expect((result.content as { text: string }[])[0].text).toBe('value of back');
  });
});
