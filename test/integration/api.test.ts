import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiTokens, approvalRequests, approvalVotes } from '../../db/schema';
import { searchAudit } from '../../server/audit/search';
import { can, type Permission } from '../../server/auth/permissions';
import { setUserRole } from '../../server/auth/users';
import { hashToken } from '../../server/lib/digest';
import { eventually, type Person, root, startTestAirlock, type TestAirlock } from '../helpers/airlock';
import { backends } from '../helpers/db';

type Item = {
  id: string;
  status: string;
  upstream: string;
  tool: string;
  arguments: unknown;
  agent: { name: string };
  createdAt: string;
  expiresAt: string;
};

/** Every handler of every route under app/api (next-auth's own excepted), with the permission it declares. */
function apiRoutes(): { method: string; path: string; permission: Permission | null }[] {
  const base = join(root, 'app/api');
  const files = (readdirSync(base, { recursive: true }) as string[]).filter((f) => f.endsWith('route.ts') && !f.startsWith('auth/'));
  return files.flatMap((file) => {
    const source = readFileSync(join(base, file), 'utf8');
    // a placeholder id: authorization must come before any lookup
    const path = `/api/${dirname(file)}`.replace(/\[id\]/g, '00000000-0000-4000-8000-000000000000');
    return [...source.matchAll(/export (?:const|async function|function) (GET|POST|PUT|PATCH|DELETE)\b(.*)/g)].map(([, method, rest]) => ({
      method,
      path,
      permission: (/^ = withUser\(\{ permission: '([a-z.]+)'/.exec(rest)?.[1] ?? null) as Permission | null,
    }));
  });
}

const operatorNextAuthUrl = process.env.NEXTAUTH_URL !== undefined;

describe.each(backends())('approvals API on %s', (backend) => {
  let h: TestAirlock;
  let owner: Person;
  let approver: Person;
  let auditor: Person;
  let admin: Person;
  let token: string;

  beforeAll(async () => {
    h = await startTestAirlock(
      backend,
      { rules: [{ id: 'pay', tool: 'pay', action: 'require_approval', reason: 'money moves' }] },
      { console: true },
    );
    owner = await h.person('approver');
    approver = await h.person('approver');
    auditor = await h.person('auditor');
    admin = await h.person('admin');
    token = await h.agent(owner.email, 'api-agent');
  });
  afterAll(() => h?.close());

  const api = (path: string, person: Person | null, init: RequestInit = {}) =>
    fetch(`${h.url}${path}`, {
      ...init,
      headers: { ...(person ? { authorization: `Bearer ${person.token}` } : {}), 'content-type': 'application/json', ...init.headers },
    });
  const vote = (id: string, person: Person, body: unknown) =>
    api(`/api/approvals/${id}/decision`, person, { method: 'POST', body: JSON.stringify(body) });

  async function held(amount: number) {
    const client = await h.connect(token);
    const call = client.callTool({ name: 'pay', arguments: { to: 'acme', amount } });
    const item = await eventually(async () => {
      const response = await api('/api/approvals?status=pending', approver);
      const { items } = (await response.json()) as { items: Item[] };
      return items.find((i) => (i.arguments as { amount: number }).amount === amount);
    });
    return { call, item };
  }

  it('authorizes every API route: each declares a permission, refuses no credentials with 401 and a role without it with 403', async () => {
    const routes = apiRoutes();
    expect(routes.length).toBeGreaterThan(15);
    for (const { method, path, permission } of routes) {
      // invariant 7: every handler goes through withUser with a permission
      expect({ method, path, permission }).toEqual({ method, path, permission: expect.any(String) });
      const body = method === 'GET' ? undefined : '{}';
      expect({ method, path, status: (await api(path, null, { method, body })).status }).toEqual({ method, path, status: 401 });
      for (const person of [approver, auditor, admin]) {
        const [role] = person.email.split('-') as ['admin' | 'approver' | 'auditor'];
        if (can(role, permission as Permission)) continue;
        const status = (await api(path, person, { method, body })).status;
        expect({ method, path, role, status }).toEqual({ method, path, role, status: 403 });
      }
    }
  });

  it('answers health once ready', async () => {
    const response = await fetch(`${h.url}/api/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  // an operator's own NEXTAUTH_URL wins, as it should: then there is nothing to check here
  it.skipIf(operatorNextAuthUrl)('next-auth’s redirects and callback URLs name the console’s own address, not localhost:3000', async () => {
    const publicUrl = h.airlock.gateway.context.publicUrl;
    expect(publicUrl).not.toBe('http://localhost:3000');
    const providers = (await (await fetch(`${h.url}/api/auth/providers`)).json()) as Record<string, { signinUrl: string }>;
    expect(providers.credentials.signinUrl).toBe(`${publicUrl}/api/auth/signin/credentials`);
    // sign-out, as the console's button sends it: the browser follows the URL it gets back
    const csrf = await fetch(`${h.url}/api/auth/csrf`);
    const { csrfToken } = (await csrf.json()) as { csrfToken: string };
    const cookie = csrf.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const signOut = await fetch(`${h.url}/api/auth/signout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, origin: publicUrl },
      body: new URLSearchParams({ csrfToken, callbackUrl: `${publicUrl}/signin`, json: 'true' }),
    });
    expect(await signOut.json()).toEqual({ url: `${publicUrl}/signin` });
  });

  it('refuses the API without credentials', async () => {
    expect((await api('/api/approvals?status=pending', null)).status).toBe(401);
    const forged = await fetch(`${h.url}/api/approvals`, { headers: { authorization: 'Bearer alk_user_forged' } });
    expect(forged.status).toBe(401);
    // an agent's token is for /mcp: said so, rather than "malformed"
    const agentToken = await fetch(`${h.url}/api/approvals`, { headers: { authorization: `Bearer ${token}` } });
    expect(agentToken.status).toBe(401);
    expect((await agentToken.json()).error.message).toContain('this is an agent token, for /mcp/<upstream>');
  });

  it('lists a held call, approves it, and the agent gets its result', async () => {
    const { call, item } = await held(100);
    expect(item).toMatchObject({
      status: 'pending',
      upstream: 'fixture',
      tool: 'pay',
      arguments: { to: 'acme', amount: 100 },
      agent: { name: 'api-agent' },
    });
    expect(new Date(item.expiresAt).getTime()).toBeGreaterThan(new Date(item.createdAt).getTime());
    const detail = await (await api(`/api/approvals/${item.id}`, auditor)).json();
    expect(detail).toMatchObject({ id: item.id, agent: { ownerEmail: owner.email }, rule: { id: 'pay', reason: 'money moves' } });

    const response = await vote(item.id, approver, { decision: 'approve' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id: item.id, status: 'approved' });
    expect((await call).content).toEqual([{ type: 'text', text: 'paid 100 to acme' }]);

    const again = await vote(item.id, admin, { decision: 'deny' });
    expect(again.status).toBe(409);
    // the vote names the API token it came through: an admin may have minted that token for the approver
    const [token] = await h.t.database.orm
      .select()
      .from(apiTokens)
      .where(eq(apiTokens.tokenHash, hashToken(approver.token)));
    const { events } = await searchAudit(h.t.database.orm, { requestId: item.id, type: 'approval.vote' });
    expect(events.map((e) => e.payload)).toEqual([expect.objectContaining({ decision: 'approve', apiTokenId: token.id })]);
  });

  it('sends the reviewer’s reason back to the agent on deny', async () => {
    const { call, item } = await held(200);
    const response = await vote(item.id, approver, { decision: 'deny', reason: 'payee not on the allow list' });
    expect(response.status).toBe(200);
    const result = await call;
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toContain('payee not on the allow list');
  });

  it('an auditor may read but never decide', async () => {
    const { call, item } = await held(300);
    const response = await vote(item.id, auditor, { decision: 'approve' });
    expect(response.status).toBe(403);
    const [row] = await h.t.database.orm.select().from(approvalRequests).where(eq(approvalRequests.id, item.id));
    expect(row.status).toBe('pending');
    await vote(item.id, approver, { decision: 'deny' });
    await call;
  });

  it('the agent’s owner may not approve its call', async () => {
    const { call, item } = await held(400);
    const response = await vote(item.id, owner, { decision: 'approve' });
    expect(response.status).toBe(403);
    expect((await response.json()).error.message).toContain('own this agent');
    await vote(item.id, approver, { decision: 'deny' });
    await call;
  });

  it('a demoted reviewer is refused at once', async () => {
    const { call, item } = await held(500);
    const demoted = await h.person('approver');
    await setUserRole(h.t.database, { email: demoted.email, role: 'auditor' });
    expect((await vote(item.id, demoted, { decision: 'approve' })).status).toBe(403);
    await vote(item.id, approver, { decision: 'deny' });
    await call;
  });

  it('bad input gets 400 with a clear message and changes nothing', async () => {
    const { call, item } = await held(600);
    const cases: [string, string][] = [
      [JSON.stringify({ decision: 'maybe' }), 'decision'],
      [JSON.stringify({ decision: 'approve', extra: 1 }), 'extra'],
      ['{"decision": ', 'not valid JSON'],
      [JSON.stringify({ decision: 'deny', reason: 'x'.repeat(5000) }), 'reason'],
      [JSON.stringify({ decision: 'deny', reason: 'x'.repeat(1024 * 1024) }), 'too large'],
      // PostgreSQL stores no U+0000: refused before any statement, where it would fail as a 500
      [JSON.stringify({ decision: 'deny', reason: 'x\u0000y' }), 'NUL characters'],
    ];
    for (const [body, mentions] of cases) {
      const response = await api(`/api/approvals/${item.id}/decision`, approver, { method: 'POST', body });
      expect(response.status).toBe(400);
      expect((await response.json()).error.message).toContain(mentions);
    }
    expect((await api('/api/approvals?status=bogus', approver)).status).toBe(400);
    // a body streamed without Content-Length, far past 1 MiB, is refused too (and not held in memory)
    const chunk = new TextEncoder().encode(' '.repeat(256 * 1024));
    let sent = 0;
    const streamed = await api(`/api/approvals/${item.id}/decision`, approver, {
      method: 'POST',
      duplex: 'half',
      body: new ReadableStream<Uint8Array>({
        pull(controller) {
          sent += chunk.byteLength;
          if (sent > 16 * 1024 * 1024) controller.close();
          else controller.enqueue(chunk);
        },
      }),
    } as RequestInit);
    expect(streamed.status).toBe(400);
    expect((await streamed.json()).error.message).toContain('too large');
    const nulQuery = await api('/api/queue?upstream=%00', approver);
    expect(nulQuery.status).toBe(400);
    expect((await nulQuery.json()).error.message).toContain('NUL characters');
    expect((await api('/api/approvals/no-such-id', approver)).status).toBe(404);
    for (const nulPath of [await api('/api/approvals/%00', approver), await vote(`${item.id}%00`, approver, { decision: 'approve' })]) {
      expect(nulPath.status).toBe(400);
      expect((await nulPath.json()).error.message).toContain('NUL characters');
    }
    expect(await h.t.database.orm.select().from(approvalVotes).where(eq(approvalVotes.requestId, item.id))).toEqual([]);
    await vote(item.id, approver, { decision: 'deny' });
    await call;
  });

  it('answers the approvals routes (served without Next’s router) with the headers of every other API route', async () => {
    const names = [
      'x-content-type-options',
      'referrer-policy',
      'x-frame-options',
      'permissions-policy',
      'cross-origin-opener-policy',
      'cache-control',
    ];
    const headersOf = (response: Response) => Object.fromEntries(names.map((name) => [name, response.headers.get(name)]));
    const throughNext = headersOf(await api('/api/tokens', approver));
    expect(throughNext['cache-control']).toBe('no-store');
    expect(throughNext['x-frame-options']).toBe('DENY');
    for (const path of ['/api/approvals?status=pending', '/api/queue?status=pending', '/api/approvals/no-such-id']) {
      expect({ path, headers: headersOf(await api(path, approver)) }).toEqual({ path, headers: throughNext });
    }
    // other methods and shapes are still Next's: a method the route does not export, a trailing slash
    expect((await api('/api/approvals', approver, { method: 'PUT', body: '{}' })).status).toBe(405);
    expect((await api('/api/approvals/', approver, { redirect: 'manual' })).status).toBe(308);
  });

  it('compresses a large approvals answer for a client that accepts gzip, as Next does its own', async () => {
    const client = await h.connect(token);
    const memo = 'invoice line; '.repeat(400);
    const call = client.callTool({ name: 'pay', arguments: { to: 'acme', amount: 701, memo } });
    const item = await eventually(async () => {
      const { items } = (await (await api('/api/approvals?status=pending', approver)).json()) as { items: Item[] };
      return items.find((i) => (i.arguments as { amount: number }).amount === 701);
    });
    const plain = await api('/api/approvals?status=pending', approver, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    const plainBody = await plain.text();
    expect(plainBody).toContain(memo);
    const gzipped = await api('/api/approvals?status=pending', approver, { headers: { 'accept-encoding': 'gzip, br;q=0' } });
    expect(gzipped.headers.get('content-encoding')).toBe('gzip');
    expect(gzipped.headers.get('vary')).toMatch(/accept-encoding/i);
    // fetch decompresses: the same answer, a fraction of the bytes on the wire
    expect(await gzipped.text()).toBe(plainBody);
    expect(Number(gzipped.headers.get('content-length'))).toBeLessThan(plainBody.length / 4);
    // a refused encoding, and a small answer, go out as they are
    const refused = await api('/api/approvals?status=pending', approver, { headers: { 'accept-encoding': 'gzip;q=0' } });
    expect(refused.headers.get('content-encoding')).toBeNull();
    const small = await api('/api/approvals/no-such-id', approver, { headers: { 'accept-encoding': 'gzip' } });
    expect(small.headers.get('content-encoding')).toBeNull();
    await vote(item.id, approver, { decision: 'deny' });
    await call;
  });

  it('refuses a cookie-authenticated decision from another origin', async () => {
    const response = await fetch(`${h.url}/api/approvals/x/decision`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://evil.example', cookie: 'next-auth.session-token=whatever' },
      body: JSON.stringify({ decision: 'approve' }),
    });
    expect([401, 403]).toContain(response.status);
  });

  it('masks secrets in the arguments it returns, listing where they are', async () => {
    const client = await h.connect(token);
    const secret = `ghp_${'a1B2c3D4e5'.repeat(4)}`;
    const call = client.callTool({ name: 'pay', arguments: { to: 'acme', amount: 700, api_key: secret } });
    const item = await eventually(async () => {
      const { items } = (await (await api('/api/approvals?status=pending', approver)).json()) as { items: Item[] };
      return items.find((i) => (i.arguments as { amount: number }).amount === 700);
    });
    const detail = await (await api(`/api/approvals/${item.id}`, approver)).text();
    for (const body of [JSON.stringify(item), detail]) expect(body).not.toContain(secret);
    expect(JSON.parse(detail).secrets).toEqual([expect.objectContaining({ path: ['api_key'] })]);
    const revealed = await api(`/api/approvals/${item.id}/reveal`, approver, {
      method: 'POST',
      body: JSON.stringify({ path: ['api_key'] }),
    });
    expect((await revealed.json()).value).toBe(secret);
    // the queue's text search does not look inside arguments (it would reveal a secret a character at a time)
    const search = await (await api(`/api/queue?q=${secret.slice(0, 8)}`, approver)).json();
    expect(search.total).toBe(0);
    await vote(item.id, approver, { decision: 'deny' });
    await call;
  });

  it('serves the audit log and its verification to auditors only', async () => {
    const verify = await api('/api/audit/verify', auditor);
    expect(await verify.json()).toMatchObject({ ok: true });
    expect((await api('/api/audit/verify', approver)).status).toBe(403);
    const page = await (await api('/api/audit?type=approval.*&limit=5', auditor)).json();
    expect(page.events.length).toBe(5);
    const exported = await (await api('/api/audit/export', admin)).text();
    expect(exported.trim().split('\n').length).toBeGreaterThan(10);
  });
});
