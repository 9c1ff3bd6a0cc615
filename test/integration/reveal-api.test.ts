import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { and, eq } from 'drizzle-orm';
import { encode } from 'next-auth/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalRequests, auditEvents } from '../../db/schema';
import { maskArguments } from '../../server/approvals/masking';
import { SESSION_COOKIE } from '../../server/auth/session';
import { eventually, type Person, startTestAirlock, type TestAirlock } from '../helpers/airlock';
import { backends } from '../helpers/db';

// assembled at run time so secret scanners do not flag this file
const stripeKey = ['sk', 'live', 'a1B2c3D4e5f6G7h8i9J0k1L2'].join('_');
const githubToken = `ghp_${'Z9y8X7w6V5'.repeat(4)}`;
const awsKey = ['AKIA', 'IOSFODNN7EXAMPLE'].join('');
// the console's session cookies are sealed with this (the Next handler runs in this process)
const SESSION_SECRET = 'reveal-api-test-secret-0123456789abcdef';

type Item = { id: string; arguments: { amount?: number } };

describe.each(backends())('revealing masked secrets on %s', (backend) => {
  let h: TestAirlock;
  let owner: Person;
  let approver: Person;
  let auditor: Person;
  let agent: Client;
  let previousSecret: string | undefined;

  beforeAll(async () => {
    previousSecret = process.env.NEXTAUTH_SECRET;
    process.env.NEXTAUTH_SECRET = SESSION_SECRET;
    h = await startTestAirlock(
      backend,
      { rules: [{ id: 'pay', tool: 'pay', action: 'require_approval', allowEdit: true, reason: 'money moves' }] },
      { console: true },
    );
    owner = await h.person('approver');
    approver = await h.person('approver');
    auditor = await h.person('auditor');
    agent = await h.connect(await h.agent(owner.email, 'reveal-agent'));
  });
  afterAll(async () => {
    await h?.close();
    if (previousSecret === undefined) delete process.env.NEXTAUTH_SECRET;
    else process.env.NEXTAUTH_SECRET = previousSecret;
  });

  const api = (path: string, person: Person | null, init: RequestInit = {}) =>
    fetch(`${h.url}${path}`, {
      ...init,
      headers: { ...(person ? { authorization: `Bearer ${person.token}` } : {}), 'content-type': 'application/json', ...init.headers },
    });
  const reveal = (id: string, person: Person | null, body: unknown) =>
    api(`/api/approvals/${id}/reveal`, person, { method: 'POST', body: JSON.stringify(body) });
  const auditOf = (id: string, type: string) =>
    h.t.database.orm
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.requestId, id), eq(auditEvents.type, type)));
  /** The request page as a signed-in reviewer's browser receives it: HTML with the RSC payload inlined. */
  async function page(id: string, person: Person): Promise<string> {
    const cookie = await encode({ token: { sub: person.id }, secret: SESSION_SECRET });
    const response = await fetch(`${h.url}/approvals/${id}`, { headers: { cookie: `${SESSION_COOKIE}=${cookie}` }, redirect: 'manual' });
    expect(response.status).toBe(200);
    return response.text();
  }

  /** A `pay` call carrying secrets, held for approval. */
  async function held(amount: number) {
    const call = agent.callTool({ name: 'pay', arguments: { to: 'acme', amount, api_key: stripeKey, memo: `deploy with ${githubToken}` } });
    const item = await eventually(async () => {
      const response = await api('/api/approvals?status=pending', approver);
      const { items } = (await response.json()) as { items: Item[] };
      return items.find((i) => i.arguments.amount === amount);
    });
    return { call, id: item.id };
  }

  it('the request page carries no secret: not in the markup, not in the serialized props', async () => {
    const { call, id } = await held(100);
    const html = await page(id, approver);
    expect(html).toContain('acme');
    // the marker is never rendered: finding it proves the serialized props are in this HTML
    expect(html).toContain('$airlockMasked');
    expect(html).toContain('look like secrets and are masked');
    expect(html).not.toContain(stripeKey);
    expect(html).not.toContain(githubToken);
    await api(`/api/approvals/${id}/decision`, approver, { method: 'POST', body: JSON.stringify({ decision: 'deny' }) });
    await call;
  });

  it('masks the stored arguments, and the reveal API returns each secret, audited without its value', async () => {
    const { call, id } = await held(200);
    const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, id));
    const { masked, secrets } = maskArguments(row.arguments);
    expect(secrets).toEqual([
      { path: ['api_key'], kind: 'value of "api_key"' },
      { path: ['memo'], kind: 'GitHub token' },
    ]);
    expect(JSON.stringify(masked)).not.toContain(stripeKey);
    expect(JSON.stringify(masked)).not.toContain(githubToken);

    const first = await reveal(id, approver, { path: ['api_key'] });
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect(await first.json()).toEqual({ value: stripeKey });
    // auditors read what reviewers read
    const second = await reveal(id, auditor, { path: ['memo'], which: 'arguments' });
    expect(await second.json()).toEqual({ value: `deploy with ${githubToken}` });

    const events = await auditOf(id, 'approval.secret_revealed');
    expect(events.map((e) => ({ actor: [e.actorType, e.actorId], payload: e.payload }))).toEqual([
      { actor: ['user', approver.id], payload: { which: 'arguments', path: ['api_key'], kind: 'value of "api_key"' } },
      { actor: ['user', auditor.id], payload: { which: 'arguments', path: ['memo'], kind: 'GitHub token' } },
    ]);
    expect(JSON.stringify(events)).not.toContain(stripeKey);
    expect(JSON.stringify(events)).not.toContain(githubToken);
    await api(`/api/approvals/${id}/decision`, approver, { method: 'POST', body: JSON.stringify({ decision: 'deny' }) });
    await call;
  });

  it('refuses anything that is not a masked secret, and reveals nothing then', async () => {
    const { call, id } = await held(300);
    const cases: [unknown, number, string][] = [
      [{ path: ['to'] }, 400, 'no masked secret'],
      [{ path: [] }, 400, 'no masked secret'],
      [{ path: ['api_key'], key: true }, 400, 'no masked secret'],
      [{ path: ['nope', 0] }, 400, 'no masked secret'],
      [{ path: ['api_key'], extra: 1 }, 400, 'extra'],
      [{ path: 'api_key' }, 400, 'path'],
      [{ path: [-1] }, 400, 'path'],
      [{ path: Array.from({ length: 1001 }, () => 'a') }, 400, 'path'],
      [{ path: ['api_key'], which: 'approved' }, 404, 'no approved arguments'],
    ];
    for (const [body, status, mentions] of cases) {
      const response = await reveal(id, approver, body);
      expect(response.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      const text = await response.text();
      expect(text).toContain(mentions);
      expect(text).not.toContain(stripeKey);
    }
    expect((await reveal('00000000-0000-4000-8000-000000000000', approver, { path: ['api_key'] })).status).toBe(404);
    expect(await auditOf(id, 'approval.secret_revealed')).toEqual([]);
    await api(`/api/approvals/${id}/decision`, approver, { method: 'POST', body: JSON.stringify({ decision: 'deny' }) });
    await call;
  });

  it('refuses callers without credentials', async () => {
    const { call, id } = await held(400);
    expect((await reveal(id, null, { path: ['api_key'] })).status).toBe(401);
    expect((await api(`/api/approvals/${id}/arguments`, null, { method: 'POST' })).status).toBe(401);
    const forged = await fetch(`${h.url}/api/approvals/${id}/reveal`, {
      method: 'POST',
      headers: { authorization: 'Bearer alk_user_forged', 'content-type': 'application/json' },
      body: JSON.stringify({ path: ['api_key'] }),
    });
    expect(forged.status).toBe(401);
    expect(await auditOf(id, 'approval.secret_revealed')).toEqual([]);
    await api(`/api/approvals/${id}/decision`, approver, { method: 'POST', body: JSON.stringify({ decision: 'deny' }) });
    await call;
  });

  it('gives the raw arguments to a reviewer who may decide, audited, and not to an auditor', async () => {
    const { call, id } = await held(500);
    // a GET is not served: reading the arguments is audited, and a link from another site must not record a view
    expect((await api(`/api/approvals/${id}/arguments`, approver)).status).toBe(405);
    const response = await api(`/api/approvals/${id}/arguments`, approver, { method: 'POST' });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({
      arguments: { to: 'acme', amount: 500, api_key: stripeKey, memo: `deploy with ${githubToken}` },
    });
    expect((await api(`/api/approvals/${id}/arguments`, auditor, { method: 'POST' })).status).toBe(403);
    // nor to the agent's owner, who may not approve it, so has nothing to edit
    const byOwner = await api(`/api/approvals/${id}/arguments`, owner, { method: 'POST' });
    expect(byOwner.status).toBe(403);
    expect((await byOwner.json()).error.message).toContain('You own this agent');
    const events = await auditOf(id, 'approval.arguments_viewed');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actorType: 'user', actorId: approver.id });
    expect(JSON.stringify(events)).not.toContain(stripeKey);
    await api(`/api/approvals/${id}/decision`, approver, { method: 'POST', body: JSON.stringify({ decision: 'deny' }) });
    await call;
    // once decided there is nothing to edit
    expect((await api(`/api/approvals/${id}/arguments`, approver, { method: 'POST' })).status).toBe(409);
    expect(await auditOf(id, 'approval.arguments_viewed')).toHaveLength(1);
  });

  it('masks the approved (edited) arguments too, and reveals them with which: approved', async () => {
    const { call, id } = await held(600);
    const edited = { to: `acct ${awsKey}`, amount: 600 };
    const decided = await api(`/api/approvals/${id}/decision`, approver, {
      method: 'POST',
      body: JSON.stringify({ decision: 'approve', arguments: edited }),
    });
    expect(decided.status).toBe(200);
    await call;
    const html = await page(id, auditor);
    expect(html).toContain('Approved arguments');
    expect(html).not.toContain(awsKey);
    expect(html).not.toContain(stripeKey);

    const response = await reveal(id, auditor, { path: ['to'], which: 'approved' });
    expect(await response.json()).toEqual({ value: `acct ${awsKey}` });
    // the agent's own arguments had no secret at `to`
    expect((await reveal(id, auditor, { path: ['to'] })).status).toBe(400);
    const [event] = await auditOf(id, 'approval.secret_revealed');
    expect(event.payload).toEqual({ which: 'approved', path: ['to'], kind: 'AWS access key' });
  });
});
