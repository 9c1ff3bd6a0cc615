import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agents, apiTokens, auditEvents, upstreams, users } from '../../db/schema';
import { authenticatePassword, setUserRole } from '../../server/auth/users';
import { hashToken } from '../../server/lib/digest';
import { eventually, type Person, startTestAirlock, type TestAirlock } from '../helpers/airlock';
import { backends } from '../helpers/db';

type UserJson = { id: string; email: string; name: string | null; role: string; disabled: boolean; createdAt: string };
type AgentJson = { id: string; name: string; ownerId: string; upstreams: string[]; createdAt: string; revokedAt: string | null };
type ToolJson = {
  name: string;
  title: string | null;
  annotations: Record<string, boolean>;
  verdict: { action: string; ruleId: string; quorum: number };
};
type UpstreamJson = {
  name: string;
  transport: string;
  config: Record<string, unknown>;
  tools: ToolJson[] | null;
  toolsListedAt: string | null;
};

describe.each(backends())('admin API on %s', (backend) => {
  let h: TestAirlock;
  let admin: Person;
  let approver: Person;
  let auditor: Person;
  /** Every password and token the API handed out: none may reach the audit log. */
  const secrets: string[] = [];

  beforeAll(async () => {
    h = await startTestAirlock(
      backend,
      {
        rules: [
          { id: 'pay', upstream: 'fixture', tool: 'pay', action: 'require_approval', quorum: 2, reason: 'money moves' },
          { id: 'no-deletes', tool: 'delete_*', action: 'deny' },
        ],
        upstreams: {
          remote: {
            transport: 'http',
            url: 'https://svc:hunter22@mcp.example.com/mcp?key=abc123',
            headers: { Authorization: 'Bearer upstream-secret' },
          },
        },
      },
      { console: true },
    );
    admin = await h.person('admin');
    approver = await h.person('approver');
    auditor = await h.person('auditor');
  });
  afterAll(() => h?.close());

  const api = (path: string, person: Person | null, init: RequestInit & { json?: unknown } = {}) =>
    fetch(`${h.url}${path}`, {
      ...init,
      body: init.json === undefined ? init.body : JSON.stringify(init.json),
      headers: { ...(person ? { authorization: `Bearer ${person.token}` } : {}), 'content-type': 'application/json', ...init.headers },
    });
  const orm = () => h.t.database.orm;
  const userRow = async (email: string) => (await orm().select().from(users).where(eq(users.email, email)))[0];
  const auditByAdmin = async () =>
    (await orm().select().from(auditEvents).where(eq(auditEvents.actorId, admin.id))).filter((e) => e.actorType === 'user');

  it('adds a user with a generated one-time password that signs in, returned once and never stored in clear', async () => {
    const response = await api('/api/users', admin, {
      method: 'POST',
      json: { email: 'New.Person@Example.com', role: 'approver', name: 'New Person' },
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('cache-control')).toContain('no-store');
    const body = (await response.json()) as { user: UserJson & { passwordHash?: unknown }; password: string };
    expect(body.user).toMatchObject({ email: 'new.person@example.com', role: 'approver', name: 'New Person', disabled: false });
    expect(body.user.passwordHash).toBeUndefined();
    expect(body.password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    secrets.push(body.password);
    expect(await authenticatePassword(h.t.database, { email: 'new.person@example.com', password: body.password })).toMatchObject({
      id: body.user.id,
    });
    expect((await userRow('new.person@example.com')).passwordHash).not.toContain(body.password);

    const chosen = await api('/api/users', admin, {
      method: 'POST',
      json: { email: 'chosen@example.com', role: 'auditor', password: 'a chosen passphrase' },
    });
    expect(chosen.status).toBe(201);
    const chosenBody = await chosen.json();
    expect(chosenBody).not.toHaveProperty('password');
    expect(await authenticatePassword(h.t.database, { email: 'chosen@example.com', password: 'a chosen passphrase' })).not.toBeNull();

    const again = await api('/api/users', admin, { method: 'POST', json: { email: 'chosen@example.com', role: 'admin' } });
    expect(again.status).toBe(409);
    expect((await userRow('chosen@example.com')).role).toBe('auditor');
  });

  it('lists users without password hashes', async () => {
    const response = await api('/api/users', admin);
    expect(response.status).toBe(200);
    const { users: list } = (await response.json()) as { users: UserJson[] };
    expect(list.map((u) => u.email)).toEqual(expect.arrayContaining([admin.email, approver.email, 'new.person@example.com']));
    expect(JSON.stringify(list)).not.toMatch(/passwordHash|scrypt/);
  });

  it('changes a role, and disabling a user stops their API token at once until re-enabled', async () => {
    const target = await h.person('approver');
    const promote = await api(`/api/users/${target.id}`, admin, { method: 'PATCH', json: { role: 'auditor' } });
    expect(promote.status).toBe(200);
    expect((await promote.json()).user).toMatchObject({ id: target.id, role: 'auditor' });
    expect((await api('/api/audit/verify', target)).status).toBe(200); // auditors read the audit log

    const disable = await api(`/api/users/${target.id}`, admin, { method: 'PATCH', json: { disabled: true } });
    expect((await disable.json()).user).toMatchObject({ disabled: true });
    expect((await api('/api/audit/verify', target)).status).toBe(401);

    const both = await api(`/api/users/${target.id}`, admin, { method: 'PATCH', json: { disabled: false, role: 'approver' } });
    expect((await both.json()).user).toMatchObject({ disabled: false, role: 'approver' });
    expect((await api('/api/approvals?status=pending', target)).status).toBe(200);
    expect((await api('/api/users/no-such-user', admin, { method: 'PATCH', json: { role: 'auditor' } })).status).toBe(404);
  });

  it('resets a password: a generated one is returned once, a chosen one is not echoed', async () => {
    const target = await h.person('auditor');
    const generated = await api(`/api/users/${target.id}/password`, admin, { method: 'POST', json: {} });
    expect(generated.status).toBe(200);
    expect(generated.headers.get('cache-control')).toContain('no-store');
    const { password } = (await generated.json()) as { password: string };
    secrets.push(password);
    expect(await authenticatePassword(h.t.database, { email: target.email, password })).not.toBeNull();
    expect(await authenticatePassword(h.t.database, { email: target.email, password: 'correct horse battery staple' })).toBeNull();

    const chosen = await api(`/api/users/${target.id}/password`, admin, { method: 'POST', json: { password: 'another passphrase' } });
    expect(chosen.status).toBe(200);
    expect(await chosen.json()).not.toHaveProperty('password');
    expect(await authenticatePassword(h.t.database, { email: target.email, password: 'another passphrase' })).not.toBeNull();
  });

  it('creates an agent whose token works against /mcp/fixture until it is revoked', async () => {
    const response = await api('/api/agents', admin, {
      method: 'POST',
      json: { name: 'ci-bot', ownerEmail: approver.email.toUpperCase(), upstreams: ['fixture'] },
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('cache-control')).toContain('no-store');
    const { agent, token } = (await response.json()) as { agent: AgentJson & { tokenHash?: string }; token: string };
    expect(agent).toMatchObject({ name: 'ci-bot', ownerId: approver.id, upstreams: ['fixture'], revokedAt: null });
    expect(agent.tokenHash).toBeUndefined();
    expect(token).toMatch(/^alk_agent_/);
    secrets.push(token);

    const client = await h.connect(token);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('pay');

    const listed = (await (await api('/api/agents', admin)).json()) as { agents: (AgentJson & { ownerEmail: string })[] };
    expect(listed.agents.find((a) => a.id === agent.id)).toMatchObject({ ownerEmail: approver.email, revokedAt: null });
    expect(JSON.stringify(listed)).not.toContain('tokenHash');

    const revoke = await api(`/api/agents/${agent.id}`, admin, { method: 'DELETE' });
    expect(revoke.status).toBe(200);
    expect((await revoke.json()).agent.revokedAt).toEqual(expect.any(String));
    // the gateway's cached identity is dropped by the revocation's NOTIFY, which PostgreSQL delivers
    // asynchronously: refused within 2 s, well inside the cache's 5 s lifetime (so not by expiry)
    const initialize = () =>
      fetch(`${h.url}/mcp/fixture`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
        }),
      });
    await eventually(async () => {
      const response = await initialize();
      await response.text();
      return response.status === 401;
    }, 2000);
    expect((await api(`/api/agents/${agent.id}`, admin, { method: 'DELETE' })).status).toBe(409);
    expect((await api('/api/agents/no-such-agent', admin, { method: 'DELETE' })).status).toBe(404);

    const all = await api('/api/agents', admin, { method: 'POST', json: { name: 'any-bot', ownerEmail: approver.email, upstreams: [] } });
    expect(all.status).toBe(201);
    const anyBot = (await all.json()) as { agent: AgentJson; token: string };
    secrets.push(anyBot.token);
    expect(anyBot.agent.upstreams).toEqual([]);
  });

  it('lists personal API tokens without their secrets, and revoking one refuses its script at once', async () => {
    const script = await h.person('auditor');
    secrets.push(script.token);
    expect((await api('/api/audit/verify', script)).status).toBe(200);
    const response = await api('/api/tokens', admin);
    expect(response.status).toBe(200);
    const body = await response.text();
    expect(body).not.toContain(script.token);
    expect(body).not.toMatch(/tokenHash|token_hash/);
    const { tokens } = JSON.parse(body) as {
      tokens: { id: string; userEmail: string; lastUsedAt: string | null; revokedAt: string | null }[];
    };
    const mine = tokens.find((t) => t.userEmail === script.email);
    expect(mine).toMatchObject({ revokedAt: null, lastUsedAt: expect.any(String) });

    const revoke = await api(`/api/tokens/${mine?.id}`, admin, { method: 'DELETE' });
    expect(revoke.status).toBe(200);
    expect((await revoke.json()).token).toMatchObject({ id: mine?.id, revokedAt: expect.any(String) });
    expect((await api('/api/audit/verify', script)).status).toBe(401);
    expect(await auditByAdmin()).toContainEqual(
      expect.objectContaining({ type: 'token.revoked', payload: expect.objectContaining({ tokenId: mine?.id }) }),
    );
    expect((await api(`/api/tokens/${mine?.id}`, admin, { method: 'DELETE' })).status).toBe(409);
    expect((await api('/api/tokens/no-such-token', admin, { method: 'DELETE' })).status).toBe(404);
  });

  it('creates a personal API token for a user, returned once, that acts with that user’s role', async () => {
    const script = await h.person('auditor');
    const response = await api('/api/tokens', admin, {
      method: 'POST',
      json: { userEmail: script.email.toUpperCase(), name: 'nightly-export' },
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const { token, secret } = (await response.json()) as { token: { id: string; name: string; userEmail: string }; secret: string };
    secrets.push(secret);
    expect(secret).toMatch(/^alk_user_/);
    expect(token).toMatchObject({ name: 'nightly-export', userEmail: script.email });
    const as = (path: string, init: RequestInit = {}) =>
      fetch(`${h.url}${path}`, { ...init, headers: { authorization: `Bearer ${secret}` } });
    // an auditor's token reads the audit log, and may not decide
    expect((await as('/api/audit/verify')).status).toBe(200);
    expect((await as('/api/users')).status).toBe(403);
    const [row] = await orm().select().from(apiTokens).where(eq(apiTokens.id, token.id));
    // only the hash is stored, and it is this secret's
    expect(row.tokenHash).toBe(hashToken(secret));
    expect(JSON.stringify(await (await api('/api/tokens', admin)).json())).not.toContain(secret);
    expect(await auditByAdmin()).toContainEqual(
      expect.objectContaining({ type: 'token.created', payload: expect.objectContaining({ tokenId: token.id, email: script.email }) }),
    );
  });

  it('refuses admin endpoints to approvers and auditors (403) and to the anonymous (401), changing nothing', async () => {
    const target = await userRow(approver.email);
    const [agent] = await orm().select().from(agents).limit(1);
    const [token] = await orm().select().from(apiTokens).where(eq(apiTokens.userId, target.id));
    const calls: [string, string, unknown?][] = [
      ['GET', '/api/users'],
      ['POST', '/api/users', { email: 'sneaky@example.com', role: 'admin' }],
      ['PATCH', `/api/users/${target.id}`, { role: 'admin' }],
      ['POST', `/api/users/${target.id}/password`, {}],
      ['GET', '/api/agents'],
      ['POST', '/api/agents', { name: 'sneaky-bot', ownerEmail: approver.email, upstreams: [] }],
      ['DELETE', `/api/agents/${agent.id}`],
      ['GET', '/api/tokens'],
      ['POST', '/api/tokens', { userEmail: approver.email, name: 'sneaky-token' }],
      ['DELETE', `/api/tokens/${token.id}`],
    ];
    for (const person of [approver, auditor, null]) {
      for (const [method, path, json] of calls) {
        const response = await api(path, person, { method, json });
        expect(response.status, `${method} ${path} as ${person?.email ?? 'anonymous'}`).toBe(person ? 403 : 401);
      }
    }
    expect(await userRow('sneaky@example.com')).toBeUndefined();
    expect((await userRow(approver.email)).role).toBe('approver');
    expect((await orm().select().from(agents).where(eq(agents.id, agent.id)))[0].revokedAt).toEqual(agent.revokedAt);
    expect(await orm().select().from(agents).where(eq(agents.name, 'sneaky-bot'))).toEqual([]);
    expect((await orm().select().from(apiTokens).where(eq(apiTokens.id, token.id)))[0].revokedAt).toBeNull();
    expect(await orm().select().from(apiTokens).where(eq(apiTokens.name, 'sneaky-token'))).toEqual([]);
    // reading upstreams is open to every role
    for (const person of [approver, auditor]) expect((await api('/api/upstreams', person)).status).toBe(200);
  });

  it('bad input gets 400 with a clear message and writes nothing', async () => {
    const target = await h.person('approver');
    const counts = async () => ({
      users: (await orm().select({ n: count() }).from(users))[0].n,
      agents: (await orm().select({ n: count() }).from(agents))[0].n,
      tokens: (await orm().select({ n: count() }).from(apiTokens))[0].n,
      audit: (await orm().select({ n: count() }).from(auditEvents))[0].n,
    });
    const before = await counts();
    const cases: [string, string, unknown, string][] = [
      ['POST', '/api/users', { email: 'not-an-email', role: 'approver' }, 'email'],
      ['POST', '/api/users', { email: 'x@example.com', role: 'root' }, 'role'],
      ['POST', '/api/users', { email: 'x@example.com', role: 'approver', isAdmin: true }, 'isAdmin'],
      ['POST', '/api/users', { email: 'x@example.com', role: 'approver', password: 'short' }, '8 characters'],
      ['POST', '/api/users', { email: 'x@example.com', role: 'approver', name: '   ' }, 'name'],
      ['PATCH', `/api/users/${target.id}`, {}, 'give role, disabled'],
      ['PATCH', `/api/users/${target.id}`, { disabled: 'yes' }, 'disabled'],
      ['PATCH', `/api/users/${target.id}`, { role: 'auditor', email: 'x@example.com' }, 'email'],
      ['POST', `/api/users/${target.id}/password`, { password: 'short' }, '8 characters'],
      ['POST', '/api/agents', { name: 'bad name!', ownerEmail: approver.email, upstreams: [] }, 'names are'],
      ['POST', '/api/agents', { name: 'ok-bot', ownerEmail: approver.email, upstreams: ['nope'] }, 'unknown upstream nope'],
      ['POST', '/api/agents', { name: 'ok-bot', ownerEmail: 'nobody@example.com', upstreams: [] }, 'no user with email'],
      ['POST', '/api/agents', { name: 'ok-bot', ownerEmail: approver.email, upstreams: 'fixture' }, 'upstreams'],
      ['POST', '/api/tokens', { userEmail: 'nobody@example.com', name: 'ok-token' }, 'no user with email nobody@example.com'],
      ['POST', '/api/tokens', { userEmail: approver.email, name: 'bad name!' }, 'name: names are'],
      ['POST', '/api/tokens', { userEmail: approver.email, name: 'ok-token', role: 'admin' }, 'role'],
      ['POST', '/api/tokens', { name: 'ok-token' }, 'userEmail'],
    ];
    for (const [method, path, json, mentions] of cases) {
      const response = await api(path, admin, { method, json });
      expect(response.status, `${method} ${path} ${JSON.stringify(json)}`).toBe(400);
      const { message } = (await response.json()).error;
      expect(message).toContain(mentions);
      // one plain line, for a log or a form's alert
      expect(message).not.toMatch(/[\n✖→]/);
    }
    const notJson = await api('/api/users', admin, { method: 'POST', body: '{"email": ' });
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).error.message).toContain('not valid JSON');
    expect(await counts()).toEqual(before);
    expect(await authenticatePassword(h.t.database, { email: target.email, password: 'correct horse battery staple' })).not.toBeNull();
  });

  it('lists upstreams with secrets masked, their tool snapshot, and the action the rules give each tool', async () => {
    const before = (await (await api('/api/upstreams', auditor)).json()) as { upstreams: UpstreamJson[] };
    const remote = before.upstreams.find((u) => u.name === 'remote');
    expect(remote).toMatchObject({ transport: 'http', tools: null, toolsListedAt: null });
    const text = JSON.stringify(before);
    for (const secret of ['hunter22', 'abc123', 'upstream-secret', h.logFile]) expect(text).not.toContain(secret);
    expect(remote?.config).toMatchObject({ headers: { Authorization: '***' } });

    // the snapshot the gateway keeps of the last tools/list (written here so the test does not depend on when)
    const snapshot = [
      { name: 'pay', description: 'Pay someone', inputSchema: { type: 'object' }, annotations: { destructiveHint: true } },
      { name: 'delete_all', inputSchema: { type: 'object' } },
      { name: 'lookup', title: 'Look up', inputSchema: { type: 'object' }, annotations: { readOnlyHint: true } },
      { name: 'poke', inputSchema: { type: 'object' } },
    ];
    await orm()
      .update(upstreams)
      .set({ tools: snapshot, toolsHash: 'test', toolsListedAt: new Date() })
      .where(eq(upstreams.name, 'fixture'));
    const { upstreams: listed } = (await (await api('/api/upstreams', approver)).json()) as { upstreams: UpstreamJson[] };
    const fixture = listed.find((u) => u.name === 'fixture');
    expect(fixture?.config).toMatchObject({ transport: 'stdio', env: { FIXTURE_LOG: '***' } });
    expect(fixture?.toolsListedAt).toEqual(expect.any(String));
    const byName = Object.fromEntries((fixture?.tools ?? []).map((t) => [t.name, t]));
    expect(byName.pay).toMatchObject({
      annotations: { destructiveHint: true },
      verdict: { action: 'require_approval', ruleId: 'pay', quorum: 2 },
    });
    expect(byName.delete_all.verdict).toMatchObject({ action: 'deny', ruleId: 'no-deletes' });
    expect(byName.lookup).toMatchObject({ title: 'Look up', verdict: { action: 'allow', ruleId: 'default:read-only' } });
    expect(byName.poke.verdict).toMatchObject({ action: 'require_approval', ruleId: 'default:approval', quorum: 1 });
  });

  it('serves the admin pages to the roles that may open them and a clear refusal to others', async () => {
    const page = async (path: string, person: Person) => {
      const response = await fetch(`${h.url}${path}`, { headers: { authorization: `Bearer ${person.token}` } });
      return { status: response.status, html: await response.text() };
    };
    const users = await page('/admin/users', admin);
    expect(users.status).toBe(200);
    expect(users.html).toContain('Add user');
    expect(users.html).toContain(approver.email);
    const agentsPage = await page('/admin/agents', admin);
    expect(agentsPage.html).toContain('Create agent');
    expect(agentsPage.html).toContain('ci-bot');
    const refused = await page('/admin/users', approver);
    expect(refused.html).toContain('not allowed to manage users');
    expect(refused.html).not.toContain(admin.email);
    const upstreamsPage = await page('/admin/upstreams', auditor);
    expect(upstreamsPage.html).toContain('Look up');
    expect(upstreamsPage.html).toContain('not listed yet');
    expect(upstreamsPage.html).not.toContain('hunter22');
  });

  it('audits every change with the acting admin as actor and never a password or token', async () => {
    const events = await auditByAdmin();
    const types = new Set(events.map((e) => e.type));
    for (const type of [
      'user.created',
      'user.role_changed',
      'user.disabled',
      'user.enabled',
      'user.password_reset',
      'agent.created',
      'agent.revoked',
      'token.created',
    ])
      expect(types, type).toContain(type);
    const created = events.find((e) => e.type === 'user.created' && (e.payload as { email: string }).email === 'new.person@example.com');
    expect(created?.payload).toMatchObject({ role: 'approver', password: true });
    const everything = JSON.stringify(await orm().select().from(auditEvents));
    for (const secret of secrets) expect(everything).not.toContain(secret);
    expect(everything).not.toContain('a chosen passphrase');
  });

  it('refuses disabling oneself and demoting the last enabled admin (409), changing nothing', async () => {
    const self = await api(`/api/users/${admin.id}`, admin, { method: 'PATCH', json: { disabled: true } });
    expect(self.status).toBe(409);
    expect((await self.json()).error.message).toContain('your own account');

    // leave `admin` as the only enabled admin, then let them try to step down
    const others = (await orm().select().from(users).where(eq(users.role, 'admin'))).filter((u) => u.id !== admin.id);
    for (const other of others) await setUserRole(h.t.database, { userId: other.id, role: 'approver' });
    const eventsBefore = (await auditByAdmin()).length;
    const demote = await api(`/api/users/${admin.id}`, admin, { method: 'PATCH', json: { role: 'approver' } });
    expect(demote.status).toBe(409);
    expect((await demote.json()).error.message).toContain('last enabled admin');
    // a combined change is all or nothing
    const both = await api(`/api/users/${admin.id}`, admin, { method: 'PATCH', json: { role: 'auditor', disabled: false } });
    expect(both.status).toBe(409);
    expect(await userRow(admin.email)).toMatchObject({ role: 'admin', disabled: false });
    expect((await auditByAdmin()).length).toBe(eventsBefore);

    // with a second admin, stepping down is allowed
    const second = await h.person('admin');
    const stepDown = await api(`/api/users/${admin.id}`, admin, { method: 'PATCH', json: { role: 'approver' } });
    expect(stepDown.status).toBe(200);
    expect((await api('/api/users', admin)).status).toBe(403);
    const restore = await api(`/api/users/${admin.id}`, second, { method: 'PATCH', json: { role: 'admin' } });
    expect(restore.status).toBe(200);
  });
});
