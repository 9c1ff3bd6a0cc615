import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import type { Profile } from 'next-auth';
import { encode } from 'next-auth/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../../db/database';
import type { Role } from '../../db/schema';
import { searchAudit } from '../../server/audit/search';
import { verifyAudit } from '../../server/audit/verify';
import { authenticateAgent, createAgent, listAgents, revokeAgent } from '../../server/auth/agents';
import { authenticateApiToken, createApiToken, revokeApiToken } from '../../server/auth/api-tokens';
import { authOptions, authSecret } from '../../server/auth/next-auth';
import { can } from '../../server/auth/permissions';
import { authenticateRequest, requirePermission, SECURE_SESSION_COOKIE, SESSION_COOKIE } from '../../server/auth/session';
import { authenticatePassword, createUser, listUsers, resetPassword, setUserDisabled, setUserRole } from '../../server/auth/users';
import { parseConfig } from '../../server/config/load';
import { startAirlock } from '../../server/index';
import { hashToken } from '../../server/lib/digest';
import { backends, openTestDatabase, type TestDatabase } from '../helpers/db';

const SECRET = 'test-secret-that-is-long-enough-for-next-auth-0123456789';
let counter = 0;
const uniqueEmail = (label: string) => `${label}-${++counter}@example.com`;

describe('permissions', () => {
  it.each([
    ['admin', 'users.manage', true],
    ['admin', 'approvals.decide', true],
    ['approver', 'approvals.decide', true],
    ['approver', 'approvals.read', true],
    ['approver', 'upstreams.read', true],
    ['approver', 'audit.read', false],
    ['approver', 'users.manage', false],
    ['approver', 'agents.manage', false],
    ['auditor', 'approvals.decide', false],
    ['auditor', 'approvals.read', true],
    ['auditor', 'audit.read', true],
    ['auditor', 'upstreams.read', true],
    ['auditor', 'users.manage', false],
  ] as const)('%s may %s: %s', (role, permission, allowed) => {
    expect(can(role, permission)).toBe(allowed);
  });

  it('requirePermission throws forbidden for an auditor deciding', () => {
    expect(() => requirePermission({ role: 'auditor' }, 'approvals.decide')).toThrow(expect.objectContaining({ code: 'forbidden' }));
    expect(() => requirePermission({ role: 'approver' }, 'approvals.decide')).not.toThrow();
  });
});

describe('authSecret', () => {
  it('generates a secret once, in a 0600 file of the data dir', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'airlock-secret-'));
    try {
      const first = authSecret({ kind: 'pglite' }, { env: {}, dataDir });
      expect(first.length).toBeGreaterThanOrEqual(32);
      expect(statSync(join(dataDir, 'auth-secret')).mode & 0o777).toBe(0o600);
      expect(authSecret({ kind: 'pglite' }, { env: {}, dataDir })).toBe(first);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('prefers NEXTAUTH_SECRET and refuses a short one', () => {
    expect(authSecret({ kind: 'postgres' }, { env: { NEXTAUTH_SECRET: SECRET } })).toBe(SECRET);
    expect(() => authSecret({ kind: 'postgres' }, { env: { NEXTAUTH_SECRET: 'short' } })).toThrow(/at least 32/);
  });

  it('a short NEXTAUTH_SECRET stops Airlock at start, before it opens a database or listens', async () => {
    const saved = process.env.NEXTAUTH_SECRET;
    process.env.NEXTAUTH_SECRET = 'short';
    const dataDir = mkdtempSync(join(tmpdir(), 'airlock-secret-'));
    try {
      await expect(startAirlock({ config: parseConfig({ demo: false }), dataDir, port: 0, console: false })).rejects.toThrow(
        'NEXTAUTH_SECRET must be at least 32 characters',
      );
      // nothing was opened: no embedded database, no lock
      expect(readdirSync(dataDir)).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.NEXTAUTH_SECRET;
      else process.env.NEXTAUTH_SECRET = saved;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('warns on PostgreSQL when instances would not share a generated secret', () => {
    const warnings: string[] = [];
    authSecret({ kind: 'postgres' }, { env: {}, dataDir: 'memory://', warn: (m) => warnings.push(m) });
    expect(warnings.join()).toMatch(/NEXTAUTH_SECRET/);
  });
});

describe.each(backends())('auth on %s', (backend) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await openTestDatabase(backend);
    // an admin who is never demoted, so last-admin checks do not get in the way
    await createUser(t.database, { email: 'root@example.com', role: 'admin', password: 'root-password' });
  });
  afterAll(async () => {
    // every test above must have left an intact chain
    if (t) expect(await verifyAudit(t.database.orm)).toMatchObject({ ok: true });
    await t?.close();
  });

  const counts = async () => {
    const [row] = await query<{ users: number; agents: number; tokens: number; events: number }>(
      t.database.orm,
      sql`select (select count(*)::int from users) as users, (select count(*)::int from agents) as agents,
                 (select count(*)::int from api_tokens) as tokens, (select count(*)::int from audit_events) as events`,
    );
    return row;
  };
  const lastEvent = async (type: string) => (await searchAudit(t.database.orm, { type, limit: 1 })).events[0];
  const request = (headers: Record<string, string>) => new Request('http://localhost/api/approvals', { headers });

  describe('users', () => {
    it('stores the email lower-cased and only an scrypt hash of the password, audited user.created', async () => {
      const email = uniqueEmail('Alice').toUpperCase();
      const user = await createUser(t.database, { email: `  ${email} `, role: 'approver', password: 'correct horse', name: 'Alice' });
      expect(user.email).toBe(email.toLowerCase());
      expect(user).not.toHaveProperty('passwordHash');
      const [row] = await query<{ password_hash: string }>(t.database.orm, sql`select password_hash from users where id = ${user.id}`);
      expect(row.password_hash).toMatch(/^scrypt\$/);
      expect(row.password_hash).not.toContain('correct horse');
      const event = await lastEvent('user.created');
      expect(event).toMatchObject({
        actorType: 'system',
        payload: { userId: user.id, email: user.email, role: 'approver', password: true },
      });
      expect(JSON.stringify(event.payload)).not.toContain('correct horse');
    });

    it.each([
      ['a bad email', { email: 'not-an-email', role: 'approver', password: 'long enough' }],
      ['an unknown role', { email: 'role@example.com', role: 'superuser', password: 'long enough' }],
      ['a short password', { email: 'short@example.com', role: 'approver', password: 'short' }],
    ])('refuses %s and writes nothing', async (_label, input) => {
      const before = await counts();
      await expect(createUser(t.database, input as { email: string; role: Role })).rejects.toMatchObject({ code: 'bad_request' });
      expect(await counts()).toEqual(before);
    });

    it('refuses a second user with the same email, whatever its case, and writes nothing', async () => {
      const email = uniqueEmail('dup');
      await createUser(t.database, { email, role: 'auditor' });
      const before = await counts();
      await expect(createUser(t.database, { email: email.toUpperCase(), role: 'admin' })).rejects.toMatchObject({ code: 'conflict' });
      expect(await counts()).toEqual(before);
    });

    it('signs in with the right password, audited auth.sign_in', async () => {
      const email = uniqueEmail('signin');
      const created = await createUser(t.database, { email, role: 'approver', password: 'right password' });
      const user = await authenticatePassword(t.database, { email: email.toUpperCase(), password: 'right password' });
      expect(user?.id).toBe(created.id);
      expect(await lastEvent('auth.sign_in')).toMatchObject({
        actorType: 'user',
        actorId: created.id,
        payload: { email, method: 'password' },
      });
    });

    it('audits a wrong password as a sign-in failure with the email, never the password', async () => {
      const email = uniqueEmail('wrong');
      const created = await createUser(t.database, { email, role: 'approver', password: 'right password' });
      expect(await authenticatePassword(t.database, { email, password: 'wrong password' })).toBeNull();
      const event = await lastEvent('auth.sign_in_failed');
      expect(event).toMatchObject({ actorId: created.id, payload: { email, reason: 'wrong_password' } });
      expect(JSON.stringify(event)).not.toContain('wrong password');
    });

    it('refuses an unknown email, audited, after the same scrypt work as a wrong password', async () => {
      const email = uniqueEmail('nobody');
      expect(await authenticatePassword(t.database, { email, password: 'whatever pass' })).toBeNull();
      expect(await lastEvent('auth.sign_in_failed')).toMatchObject({ actorId: null, payload: { email, reason: 'unknown_email' } });
    });

    it('refuses a disabled user even with the right password', async () => {
      const email = uniqueEmail('disabled');
      await createUser(t.database, { email, role: 'approver', password: 'right password' });
      await setUserDisabled(t.database, { email, disabled: true });
      expect(await lastEvent('user.disabled')).toMatchObject({ payload: { email } });
      expect(await authenticatePassword(t.database, { email, password: 'right password' })).toBeNull();
      expect(await lastEvent('auth.sign_in_failed')).toMatchObject({ payload: { email, reason: 'disabled' } });
      await setUserDisabled(t.database, { email, disabled: false });
      expect(await lastEvent('user.enabled')).toMatchObject({ payload: { email } });
      expect(await authenticatePassword(t.database, { email, password: 'right password' })).not.toBeNull();
    });

    it('audits a role change with the old and new role, and the actor', async () => {
      const email = uniqueEmail('promote');
      const user = await createUser(t.database, { email, role: 'auditor' });
      const actor = { type: 'user' as const, id: 'admin-id' };
      const changed = await setUserRole(t.database, { userId: user.id, role: 'approver', actor });
      expect(changed.role).toBe('approver');
      expect(await lastEvent('user.role_changed')).toMatchObject({
        actorType: 'user',
        actorId: 'admin-id',
        payload: { userId: user.id, from: 'auditor', to: 'approver' },
      });
    });

    it('refuses an unknown role on change and writes nothing', async () => {
      const email = uniqueEmail('badrole');
      await createUser(t.database, { email, role: 'auditor' });
      const before = await counts();
      await expect(setUserRole(t.database, { email, role: 'root' as Role })).rejects.toMatchObject({ code: 'bad_request' });
      expect(await counts()).toEqual(before);
    });

    it('never leaves Airlock without an enabled admin', async () => {
      const others = (await listUsers(t.database)).filter((u) => u.role === 'admin' && u.email !== 'root@example.com');
      for (const other of others) await setUserRole(t.database, { userId: other.id, role: 'approver' });
      await expect(setUserRole(t.database, { email: 'root@example.com', role: 'approver' })).rejects.toMatchObject({ code: 'conflict' });
      await expect(setUserDisabled(t.database, { email: 'root@example.com', disabled: true })).rejects.toMatchObject({ code: 'conflict' });
    });

    it('resets a password, audited, and only the new one works', async () => {
      const email = uniqueEmail('reset');
      await createUser(t.database, { email, role: 'approver', password: 'old password' });
      await resetPassword(t.database, { email, password: 'new password' });
      expect(await lastEvent('user.password_reset')).toMatchObject({ payload: { email } });
      expect(await authenticatePassword(t.database, { email, password: 'old password' })).toBeNull();
      expect(await authenticatePassword(t.database, { email, password: 'new password' })).not.toBeNull();
    });
  });

  describe('agents', () => {
    let ownerEmail: string;
    beforeAll(async () => {
      ownerEmail = uniqueEmail('owner');
      await createUser(t.database, { email: ownerEmail, role: 'approver' });
    });

    it('stores only the SHA-256 of the agent token, audited agent.created', async () => {
      const { agent, token } = await createAgent(t.database, { name: 'stored-hash', ownerEmail, upstreams: [] });
      expect(token).toMatch(/^alk_agent_/);
      const rows = await query<Record<string, unknown>>(t.database.orm, sql`select * from agents where id = ${agent.id}`);
      expect(rows[0].token_hash).toBe(hashToken(token));
      expect(JSON.stringify(rows)).not.toContain(token);
      const events = await query<{ payload: string }>(t.database.orm, sql`select payload from audit_events`);
      expect(JSON.stringify(events)).not.toContain(token);
      expect(await lastEvent('agent.created')).toMatchObject({ payload: { agentId: agent.id, name: 'stored-hash', ownerEmail } });
    });

    it('authenticates its token on any upstream when its list is empty', async () => {
      const { agent, token } = await createAgent(t.database, { name: 'any-upstream', ownerEmail, upstreams: [] });
      expect((await authenticateAgent(t.database, { token, upstream: 'github' })).id).toBe(agent.id);
      expect((await authenticateAgent(t.database, { token, upstream: 'filesystem' })).id).toBe(agent.id);
    });

    it('refuses an agent limited to upstream A on upstream B', async () => {
      const { token } = await createAgent(t.database, { name: 'only-a', ownerEmail, upstreams: ['a'] });
      await expect(authenticateAgent(t.database, { token, upstream: 'a' })).resolves.toMatchObject({ name: 'only-a' });
      await expect(authenticateAgent(t.database, { token, upstream: 'b' })).rejects.toMatchObject({ code: 'forbidden' });
    });

    it('refuses a revoked agent token, audited agent.revoked', async () => {
      const { token } = await createAgent(t.database, { name: 'to-revoke', ownerEmail, upstreams: [] });
      await revokeAgent(t.database, { name: 'to-revoke', actor: { type: 'system', id: 'test' } });
      expect(await lastEvent('agent.revoked')).toMatchObject({ payload: { name: 'to-revoke' } });
      await expect(authenticateAgent(t.database, { token, upstream: 'a' })).rejects.toMatchObject({ code: 'unauthorized' });
      await expect(revokeAgent(t.database, { name: 'to-revoke' })).rejects.toMatchObject({ code: 'conflict' });
      expect((await listAgents(t.database)).find((a) => a.name === 'to-revoke')?.revokedAt).toBeInstanceOf(Date);
    });

    it('refuses the agents of a disabled owner, and accepts them again when the owner is enabled', async () => {
      const leaver = uniqueEmail('leaver');
      await createUser(t.database, { email: leaver, role: 'approver' });
      const { token } = await createAgent(t.database, { name: 'leavers-agent', ownerEmail: leaver, upstreams: [] });
      await setUserDisabled(t.database, { email: leaver, disabled: true });
      await expect(authenticateAgent(t.database, { token, upstream: 'a' })).rejects.toMatchObject({ code: 'unauthorized' });
      await setUserDisabled(t.database, { email: leaver, disabled: false });
      await expect(authenticateAgent(t.database, { token, upstream: 'a' })).resolves.toMatchObject({ name: 'leavers-agent' });
    });

    it.each([
      ['no token', undefined],
      ['an unknown token', 'alk_agent_unknownunknownunknownunknown'],
      ['a user token', 'alk_user_notanagenttoken'],
    ])('refuses %s as unauthorized', async (_label, token) => {
      await expect(authenticateAgent(t.database, { token, upstream: 'a' })).rejects.toMatchObject({ code: 'unauthorized' });
    });

    it('refuses an unknown owner, a bad name, a bad upstream and a taken name, writing nothing', async () => {
      await createAgent(t.database, { name: 'taken', ownerEmail, upstreams: [] });
      const before = await counts();
      await expect(createAgent(t.database, { name: 'x', ownerEmail: 'ghost@example.com', upstreams: [] })).rejects.toMatchObject({
        code: 'not_found',
      });
      await expect(createAgent(t.database, { name: 'bad name!', ownerEmail, upstreams: [] })).rejects.toMatchObject({
        code: 'bad_request',
      });
      await expect(createAgent(t.database, { name: 'ok', ownerEmail, upstreams: ['no spaces'] })).rejects.toMatchObject({
        code: 'bad_request',
      });
      await expect(createAgent(t.database, { name: 'taken', ownerEmail, upstreams: [] })).rejects.toMatchObject({ code: 'conflict' });
      expect(await counts()).toEqual(before);
    });
  });

  describe('API tokens and requests', () => {
    it('stores only the hash, authenticates the user and records last use', async () => {
      const email = uniqueEmail('script');
      const user = await createUser(t.database, { email, role: 'auditor' });
      const { token, apiToken } = await createApiToken(t.database, { userEmail: email, name: 'ci' });
      expect(token).toMatch(/^alk_user_/);
      const rows = await query<Record<string, unknown>>(t.database.orm, sql`select * from api_tokens where id = ${apiToken.id}`);
      expect(rows[0].token_hash).toBe(hashToken(token));
      expect(JSON.stringify(rows)).not.toContain(token);
      expect(await lastEvent('token.created')).toMatchObject({ payload: { tokenId: apiToken.id, email } });
      expect(await authenticateApiToken(t.database, token)).toMatchObject({ id: user.id, role: 'auditor' });
      const [used] = await query<{ last_used_at: unknown }>(
        t.database.orm,
        sql`select last_used_at from api_tokens where id = ${apiToken.id}`,
      );
      expect(used.last_used_at).not.toBeNull();
    });

    it('refuses a revoked API token', async () => {
      const email = uniqueEmail('revoked-token');
      await createUser(t.database, { email, role: 'approver' });
      const { token, apiToken } = await createApiToken(t.database, { userEmail: email, name: 'old' });
      await revokeApiToken(t.database, { tokenId: apiToken.id });
      expect(await lastEvent('token.revoked')).toMatchObject({ payload: { tokenId: apiToken.id } });
      await expect(authenticateApiToken(t.database, token)).rejects.toMatchObject({ code: 'unauthorized' });
    });

    it('refuses a disabled user in authenticateApiToken and authenticateRequest', async () => {
      const email = uniqueEmail('off');
      const user = await createUser(t.database, { email, role: 'approver' });
      const { token } = await createApiToken(t.database, { userEmail: email, name: 'cli' });
      const cookie = await encode({ token: { sub: user.id }, secret: SECRET });
      await expect(authenticateRequest(t.database, request({ authorization: `Bearer ${token}` }), SECRET)).resolves.toMatchObject({
        id: user.id,
      });
      await expect(authenticateRequest(t.database, request({ cookie: `${SESSION_COOKIE}=${cookie}` }), SECRET)).resolves.toMatchObject({
        id: user.id,
      });

      await setUserDisabled(t.database, { userId: user.id, disabled: true });
      await expect(authenticateApiToken(t.database, token)).rejects.toMatchObject({ code: 'unauthorized' });
      await expect(authenticateRequest(t.database, request({ authorization: `Bearer ${token}` }), SECRET)).rejects.toMatchObject({
        code: 'unauthorized',
      });
      await expect(authenticateRequest(t.database, request({ cookie: `${SESSION_COOKIE}=${cookie}` }), SECRET)).rejects.toMatchObject({
        code: 'unauthorized',
      });
    });

    it('reads the role from the database, not from the session cookie', async () => {
      const email = uniqueEmail('cookie');
      const user = await createUser(t.database, { email, role: 'approver', name: 'Cookie' });
      // a cookie claiming admin must not make its holder an admin
      const cookie = await encode({ token: { sub: user.id, role: 'admin' }, secret: SECRET });
      const headers = { cookie: `other=1; ${SECURE_SESSION_COOKIE}=${cookie}` };
      expect(await authenticateRequest(t.database, request(headers), SECRET)).toEqual({
        id: user.id,
        email,
        name: 'Cookie',
        role: 'approver',
        // when the cookie's session ends (seconds): the live feed closes then
        sessionExpires: expect.any(Number),
      });
      await setUserRole(t.database, { userId: user.id, role: 'auditor' });
      expect(await authenticateRequest(t.database, request(headers), SECRET)).toMatchObject({ role: 'auditor' });
    });

    it('ends the sessions signed in before a password reset', async () => {
      const email = uniqueEmail('reset-sessions');
      const user = await createUser(t.database, { email, role: 'approver', password: 'old password here' });
      const cookie = await encode({ token: { sub: user.id }, secret: SECRET });
      const headers = { cookie: `${SESSION_COOKIE}=${cookie}` };
      expect(await authenticateRequest(t.database, request(headers), SECRET)).toMatchObject({ id: user.id });
      // session times have one-second resolution: the reset must come in a later second
      await new Promise((r) => setTimeout(r, 1100));
      await resetPassword(t.database, { email, password: 'a brand new password' });
      await expect(authenticateRequest(t.database, request(headers), SECRET)).rejects.toMatchObject({ code: 'unauthorized' });
      await new Promise((r) => setTimeout(r, 1100));
      const fresh = await encode({ token: { sub: user.id }, secret: SECRET });
      expect(await authenticateRequest(t.database, request({ cookie: `${SESSION_COOKIE}=${fresh}` }), SECRET)).toMatchObject({
        id: user.id,
      });
    });

    it('stops taking passwords for an account from an address after 10 failures in 15 minutes, not from its owner’s', async () => {
      const email = uniqueEmail('throttle');
      await createUser(t.database, { email, role: 'approver', password: 'the right password' });
      const guesser = { ip: '198.51.100.9' };
      for (let i = 0; i < 10; i++) {
        expect(await authenticatePassword(t.database, { email, password: `wrong guess ${i}`, client: guesser })).toBeNull();
      }
      expect(await authenticatePassword(t.database, { email, password: 'the right password', client: guesser })).toBeNull();
      expect(await lastEvent('auth.sign_in_failed')).toMatchObject({ payload: { email, reason: 'throttled' } });
      // the owner, elsewhere, is not locked out by someone else's guesses
      expect(await authenticatePassword(t.database, { email, password: 'the right password', client: { ip: '192.0.2.1' } })).toMatchObject({
        email,
      });
    });

    it('stops taking passwords for an account from anywhere after 100 failures from many addresses', async () => {
      const email = uniqueEmail('spread');
      await createUser(t.database, { email, role: 'approver', password: 'the right password' });
      for (let i = 0; i < 100; i++) {
        await authenticatePassword(t.database, { email, password: `wrong guess ${i}`, client: { ip: `10.0.${i >> 4}.${i}` } });
      }
      expect(await authenticatePassword(t.database, { email, password: 'the right password', client: { ip: '192.0.2.1' } })).toBeNull();
      expect(await lastEvent('auth.sign_in_failed')).toMatchObject({ payload: { email, reason: 'throttled' } });
    });

    it('accepts a session cookie split into chunks', async () => {
      const user = await createUser(t.database, { email: uniqueEmail('chunks'), role: 'approver' });
      const cookie = await encode({ token: { sub: user.id }, secret: SECRET });
      const half = Math.floor(cookie.length / 2);
      const headers = { cookie: `${SESSION_COOKIE}.0=${cookie.slice(0, half)}; ${SESSION_COOKIE}.1=${cookie.slice(half)}` };
      expect(await authenticateRequest(t.database, request(headers), SECRET)).toMatchObject({ id: user.id });
    });

    it.each([
      ['no credentials', {}],
      ['a cookie sealed with another secret', { cookie: 'placeholder' }],
      ['a malformed Authorization header', { authorization: 'Basic dXNlcjpwYXNz' }],
      ['an unknown API token', { authorization: 'Bearer alk_user_doesnotexist' }],
    ])('refuses %s as unauthorized', async (label, headers: Record<string, string>) => {
      if (label.startsWith('a cookie')) {
        const user = await createUser(t.database, { email: uniqueEmail('forged'), role: 'admin' });
        headers = { cookie: `${SESSION_COOKIE}=${await encode({ token: { sub: user.id }, secret: `${SECRET}-other` })}` };
      }
      await expect(authenticateRequest(t.database, request(headers), SECRET)).rejects.toMatchObject({ code: 'unauthorized' });
    });

    it('refuses a token for an unknown or disabled user at creation, writing nothing', async () => {
      const email = uniqueEmail('gone');
      await createUser(t.database, { email, role: 'approver' });
      await setUserDisabled(t.database, { email, disabled: true });
      const before = await counts();
      await expect(createApiToken(t.database, { userEmail: 'ghost@example.com', name: 'x' })).rejects.toMatchObject({ code: 'not_found' });
      await expect(createApiToken(t.database, { userEmail: email, name: 'x' })).rejects.toMatchObject({ code: 'bad_request' });
      expect(await counts()).toEqual(before);
    });
  });

  describe('next-auth options', () => {
    const options = () => authOptions(() => t.database, { env: {}, secret: SECRET });

    it('keeps only the user id in the JWT and re-reads the user for the session', async () => {
      const email = uniqueEmail('session');
      const user = await createUser(t.database, { email, role: 'approver', password: 'session password' });
      const { callbacks } = options();
      const token = await callbacks?.jwt?.({
        token: { sub: user.id, email, name: null },
        user: { id: user.id, email },
        account: { provider: 'credentials', type: 'credentials', providerAccountId: user.id },
      });
      expect(token).toEqual({ sub: user.id });
      const session = await callbacks?.session?.({
        session: { expires: new Date(Date.now() + 1000).toISOString() },
        token: { sub: user.id },
      } as never);
      expect(session?.user).toEqual({ id: user.id, email, name: null, role: 'approver' });
      await setUserDisabled(t.database, { userId: user.id, disabled: true });
      await expect(callbacks?.session?.({ session: { expires: '' }, token: { sub: user.id } } as never)).rejects.toMatchObject({
        code: 'unauthorized',
      });
    });

    it('signs in with credentials through authenticatePassword', async () => {
      const email = uniqueEmail('creds');
      await createUser(t.database, { email, role: 'auditor', password: 'creds password' });
      const provider = options().providers[0] as unknown as { authorize: (c: unknown, r: unknown) => Promise<unknown> };
      // the address Airlock's server stamped on the request; X-Forwarded-For is the client's to write
      const req = { headers: { 'x-airlock-client-ip': '203.0.113.7', 'x-forwarded-for': '6.6.6.6' } };
      expect(await provider.authorize({ email, password: 'creds password' }, req)).toMatchObject({ email });
      expect(await lastEvent('auth.sign_in')).toMatchObject({ payload: { email, ip: '203.0.113.7' } });
      expect(await provider.authorize({ email, password: 'nope nope' }, req)).toBeNull();
    });

    it('offers OIDC only when configured, and only to existing enabled users', async () => {
      expect(options().providers.map((p) => p.id)).toEqual(['credentials']);
      const env = { AIRLOCK_OIDC_ISSUER: 'https://idp.example.com/', AIRLOCK_OIDC_CLIENT_ID: 'id', AIRLOCK_OIDC_CLIENT_SECRET: 's' };
      const withOidc = authOptions(() => t.database, { env, secret: SECRET });
      expect(withOidc.providers.map((p) => p.id)).toEqual(['credentials', 'oidc']);
      expect(withOidc.providers[1]).toMatchObject({ wellKnown: 'https://idp.example.com/.well-known/openid-configuration', idToken: true });

      const email = uniqueEmail('sso');
      await createUser(t.database, { email, role: 'approver' });
      const signIn = withOidc.callbacks?.signIn;
      const account = { provider: 'oidc', type: 'oauth' as const, providerAccountId: 'sub-1' };
      // an email the provider does not vouch for is not matched to an account
      expect(await signIn?.({ user: { id: 'sub-1' }, account, profile: { sub: 'sub-1', email } })).toBe(false);
      expect(await lastEvent('auth.sign_in_failed')).toMatchObject({ payload: { email, reason: 'email_not_verified' } });
      const profile = { sub: 'sub-1', email: email.toUpperCase(), email_verified: true } as Profile;
      expect(await signIn?.({ user: { id: 'sub-1' }, account, profile })).toBe(true);
      expect(await lastEvent('auth.sign_in')).toMatchObject({ payload: { email, method: 'oidc' } });
      const trusting = authOptions(() => t.database, { env: { ...env, AIRLOCK_OIDC_TRUST_UNVERIFIED_EMAIL: '1' }, secret: SECRET });
      expect(await trusting.callbacks?.signIn?.({ user: { id: 'sub-1' }, account, profile: { sub: 'sub-1', email } })).toBe(true);
      expect(
        await signIn?.({
          user: { id: 'sub-2' },
          account,
          profile: { sub: 'sub-2', email: 'stranger@example.com', email_verified: true } as Profile,
        }),
      ).toBe(false);
      expect(await lastEvent('auth.sign_in_failed')).toMatchObject({ payload: { email: 'stranger@example.com', reason: 'unknown_email' } });
    });

    it('marks cookies secure when the public URL is https', () => {
      const secure = authOptions(() => t.database, { env: { AIRLOCK_PUBLIC_URL: 'https://airlock.example.com' }, secret: SECRET });
      expect(secure.useSecureCookies).toBe(true);
      expect(secure.cookies?.sessionToken).toMatchObject({ name: SECURE_SESSION_COOKIE, options: { secure: true, sameSite: 'lax' } });
      expect(options().cookies?.sessionToken).toMatchObject({ name: SESSION_COOKIE, options: { secure: false, sameSite: 'lax' } });
    });
  });
});
