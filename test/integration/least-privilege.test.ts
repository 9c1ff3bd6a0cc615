import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../server/auth/agents';
import { createUser } from '../../server/auth/users';
import { parseConfig } from '../../server/config/load';
import { type Airlock, startAirlock } from '../../server/index';
import { fixtureUpstream } from '../helpers/airlock';
import { backends } from '../helpers/db';

/** README "Least privilege on PostgreSQL", run as written (role and database names varied per run). */
function setupSql(owner: string, app: string, database: string): string[] {
  return [`create role ${owner} login`, `create role ${app} login`, `create database ${database} owner ${owner}`];
}
function grantsSql(owner: string, app: string): string[] {
  return [
    `grant usage on schema public to ${app}`,
    `alter default privileges for role ${owner} in schema public grant select, insert, update, delete on tables to ${app}`,
    `alter default privileges for role ${owner} in schema public grant execute on functions to ${app}`,
  ];
}

describe.runIf(backends().includes('postgres'))('least privilege on PostgreSQL', () => {
  const suffix = randomBytes(4).toString('hex');
  const owner = `airlock_owner_${suffix}`;
  const app = `airlock_app_${suffix}`;
  const name = `airlock_lp_${suffix}`;
  const base = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  const urlFor = (user: string) => {
    const url = new URL(base);
    url.username = user;
    url.password = '';
    url.pathname = `/${name}`;
    return url.toString();
  };
  const admin = postgres(base.toString(), { max: 1, onnotice: () => {} });
  let airlock: Airlock | undefined;
  let appClient: ReturnType<typeof postgres>;

  beforeAll(async () => {
    for (const statement of setupSql(owner, app, name)) await admin.unsafe(statement);
    const asOwner = postgres(urlFor(owner), { max: 1, onnotice: () => {} });
    for (const statement of grantsSql(owner, app)) await asOwner.unsafe(statement);
    await asOwner.end();
    airlock = await startAirlock({
      config: parseConfig({ demo: false, upstreams: { fixture: fixtureUpstream('/dev/null') } }),
      databaseUrl: urlFor(app),
      migrationUrl: urlFor(owner),
      port: 0,
      console: false,
    });
    appClient = postgres(urlFor(app), { max: 1, onnotice: () => {} });
  });

  afterAll(async () => {
    await airlock?.close();
    await appClient?.end();
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.unsafe(`drop role if exists ${app}`);
    await admin.unsafe(`drop role if exists ${owner}`);
    await admin.end();
  });

  it('runs as a role that writes the audit log but cannot change, empty or unprotect it', async () => {
    if (!airlock) throw new Error('not started');
    await createUser(airlock.database, { email: 'owner@example.com', role: 'approver' });
    const { token } = await createAgent(airlock.database, { name: 'lp-agent', ownerEmail: 'owner@example.com' });
    expect(token).toMatch(/^alk_agent_/);
    const [{ n }] = await appClient`select count(*)::int as n from audit_events`;
    expect(n).toBeGreaterThan(0);
    // privileges refuse the writes before the triggers are even reached; ownership refuses the rest
    for (const statement of [`update audit_events set type = 'forged'`, 'delete from audit_events', 'truncate audit_events']) {
      await expect(appClient.unsafe(statement), statement).rejects.toThrow(/permission denied/);
    }
    for (const statement of [
      'alter table audit_events disable trigger user',
      'drop trigger audit_events_no_update_delete on audit_events',
    ]) {
      await expect(appClient.unsafe(statement), statement).rejects.toThrow(/must be (the )?owner/);
    }
    // the application's other tables stay writable
    await expect(appClient`update users set name = 'renamed' where email = 'owner@example.com'`).resolves.toBeDefined();
    const [{ m }] = await appClient`select count(*)::int as m from audit_events`;
    expect(m).toBe(n);
  });
});
