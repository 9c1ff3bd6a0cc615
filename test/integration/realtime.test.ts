import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { encode } from 'next-auth/jwt';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, openDatabase } from '../../db/client';
import { decide } from '../../server/approvals/decide';
import { APPROVALS_CHANNEL } from '../../server/approvals/types';
import { revokeAgent } from '../../server/auth/agents';
import { createApiToken, revokeApiToken } from '../../server/auth/api-tokens';
import { authSecret } from '../../server/auth/next-auth';
import { SESSION_COOKIE } from '../../server/auth/session';
import { resetPassword, setUserDisabled } from '../../server/auth/users';
import { parseConfig } from '../../server/config/load';
import { type Airlock, startAirlock } from '../../server/index';
import { eventually, fixtureUpstream, type Person, startTestAirlock, type TestAirlock } from '../helpers/airlock';
import { backends } from '../helpers/db';

type Event = { id: string; status: string; item: { tool: string; status: string } | null };

function follow(url: string, token?: string): { socket: Socket; events: Event[]; error: Promise<Error> } {
  const socket = io(url, { path: '/socket.io', transports: ['websocket'], auth: token ? { token } : {}, reconnection: false });
  const events: Event[] = [];
  socket.on('approval', (event: Event) => void events.push(event));
  const error = new Promise<Error>((resolve) => socket.on('connect_error', resolve));
  return { socket, events, error };
}

const connected = (socket: Socket) => eventually(() => socket.connected);

describe.each(backends())('realtime on %s', (backend) => {
  let h: TestAirlock;
  let reviewer: Person;
  let token: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    h = await startTestAirlock(backend, { rules: [{ id: 'pay', tool: 'pay', action: 'require_approval' }] });
    const owner = await h.person('approver');
    reviewer = await h.person('approver');
    token = await h.agent(owner.email);
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await h?.close();
  });

  it('refuses an unauthenticated or forged handshake', async () => {
    const anonymous = follow(h.url);
    sockets.push(anonymous.socket);
    expect((await anonymous.error).message).toBe('unauthorized');
    const forged = follow(h.url, 'alk_user_forged-token-that-does-not-exist');
    sockets.push(forged.socket);
    expect((await forged.error).message).toBe('unauthorized');
  });

  it('pushes a held call and its decision to every console', async () => {
    const auditor = await h.person('auditor');
    const consoles = [follow(h.url, reviewer.token), follow(h.url, auditor.token)];
    for (const c of consoles) {
      sockets.push(c.socket);
      await connected(c.socket);
    }
    const client = await h.connect(token);
    const call = client.callTool({ name: 'pay', arguments: { to: 'acme', amount: 3 } });
    const created = await eventually(() => consoles[0].events.find((e) => e.status === 'pending' && e.item?.tool === 'pay'));
    await eventually(() => consoles[1].events.some((e) => e.id === created.id));
    await decide(h.t.database, { requestId: created.id, user: { id: reviewer.id }, decision: 'approve' });
    await eventually(() => consoles.every((c) => c.events.some((e) => e.id === created.id && e.status === 'approved')));
    await call;
  });

  it('delivers the events of one request in the order they were recorded', async () => {
    const c = follow(h.url, reviewer.token);
    sockets.push(c.socket);
    await connected(c.socket);
    const id = randomUUID();
    const statuses = Array.from({ length: 60 }, (_, i) => `step-${i}`);
    // each NOTIFY in its own transaction: the order the database delivers them is the recorded order
    for (const status of statuses) {
      await h.t.database.orm.execute(sql`select pg_notify(${APPROVALS_CHANNEL}, ${JSON.stringify({ id, status })})`);
    }
    const seen = await eventually(() => {
      const mine = c.events.filter((e) => e.id === id);
      return mine.length === statuses.length && mine;
    });
    expect(seen.map((e) => e.status)).toEqual(statuses);
  });

  it('drops notifications it cannot read and keeps delivering the next ones', async () => {
    const c = follow(h.url, reviewer.token);
    sockets.push(c.socket);
    await connected(c.socket);
    // anyone with access to the database can NOTIFY on the channel
    for (const junk of ['null', '[1]', '"text"', '{"id":5}', '{"id":"x"}', 'not json']) {
      await h.t.database.orm.execute(sql`select pg_notify(${APPROVALS_CHANNEL}, ${junk})`);
    }
    const id = randomUUID();
    await h.t.database.orm.execute(sql`select pg_notify(${APPROVALS_CHANNEL}, ${JSON.stringify({ id, status: 'approved' })})`);
    await eventually(() => c.events.some((e) => e.id === id && e.status === 'approved'));
    expect(c.events.filter((e) => typeof e.id !== 'string' || e.id === 'x')).toEqual([]);
    expect((await fetch(`${h.url}/api/health`)).status).toBe(200);
  });

  it('tells consoles to re-read, rather than sending an event with no item, when a request cannot be read', async () => {
    const c = follow(h.url, reviewer.token);
    sockets.push(c.socket);
    await connected(c.socket);
    let resyncs = 0;
    c.socket.on('resync', () => {
      resyncs++;
    });
    const id = randomUUID();
    // the read of the request fails (its agents table is away, as in a failover's first seconds)
    await h.t.database.orm.execute(sql`alter table agents rename to agents_away`);
    try {
      await h.t.database.orm.execute(sql`select pg_notify(${APPROVALS_CHANNEL}, ${JSON.stringify({ id, status: 'pending' })})`);
      await eventually(() => resyncs > 0);
    } finally {
      await h.t.database.orm.execute(sql`alter table agents_away rename to agents`);
    }
    // an event with item null would have taken a pending row off every console's page
    expect(c.events.filter((e) => e.id === id)).toEqual([]);
  });

  it('answers a handshake it cannot check for a database failure with unavailable, not unauthorized', async () => {
    await h.t.database.orm.execute(sql`alter table api_tokens rename to api_tokens_away`);
    try {
      const c = follow(h.url, reviewer.token);
      sockets.push(c.socket);
      // unauthorized would send the console to the sign-in page, losing what the reviewer was typing
      expect((await c.error).message).toBe('unavailable');
    } finally {
      await h.t.database.orm.execute(sql`alter table api_tokens_away rename to api_tokens`);
    }
    const again = follow(h.url, reviewer.token);
    sockets.push(again.socket);
    await connected(again.socket);
  });

  it('drops the socket of a user who is disabled, within seconds', async () => {
    const leaving = await h.person('approver');
    const c = follow(h.url, leaving.token);
    sockets.push(c.socket);
    await connected(c.socket);
    await setUserDisabled(h.t.database, { email: leaving.email, disabled: true });
    await eventually(() => !c.socket.connected, 15_000);
  });

  it('drops the socket of a console session signed in before a password reset; the user’s API token stays', async () => {
    const person = await h.person('approver');
    const cookie = await encode({ token: { sub: person.id }, secret: authSecret(h.t.database) });
    const session = io(h.url, {
      path: '/socket.io',
      transports: ['websocket'],
      extraHeaders: { cookie: `${SESSION_COOKIE}=${cookie}` },
      reconnection: false,
    });
    const script = follow(h.url, person.token);
    sockets.push(session, script.socket);
    await connected(session);
    await connected(script.socket);
    // session times have one-second resolution: the reset must come in a later second
    await new Promise((r) => setTimeout(r, 1100));
    await resetPassword(h.t.database, { email: person.email, password: 'a brand new password' });
    await eventually(() => !session.connected, 15_000);
    expect(script.socket.connected).toBe(true);
  });

  it('drops the socket of a revoked API token within seconds; the person’s other token stays', async () => {
    const person = await h.person('approver');
    const { token: second, apiToken } = await createApiToken(h.t.database, { userEmail: person.email, name: 'second' });
    const revoked = follow(h.url, second);
    const kept = follow(h.url, person.token);
    sockets.push(revoked.socket, kept.socket);
    await connected(revoked.socket);
    await connected(kept.socket);
    await revokeApiToken(h.t.database, { tokenId: apiToken.id });
    await eventually(() => !revoked.socket.connected, 15_000);
    expect(kept.socket.connected).toBe(true);
  });

  it('drops the socket of a console session once the session it was opened with has expired', async () => {
    const person = await h.person('approver');
    // a session cookie with 5 s left (enough to connect on a busy machine)
    const cookie = await encode({ token: { sub: person.id }, secret: authSecret(h.t.database), maxAge: 5 });
    const session = io(h.url, {
      path: '/socket.io',
      transports: ['websocket'],
      extraHeaders: { cookie: `${SESSION_COOKIE}=${cookie}` },
      reconnection: false,
    });
    sockets.push(session);
    await connected(session);
    await eventually(() => !session.connected, 15_000);
  });
});

describe.runIf(backends().includes('postgres'))('realtime across two instances on one PostgreSQL', () => {
  let h: TestAirlock;
  let second: Airlock;

  beforeAll(async () => {
    h = await startTestAirlock('postgres', { rules: [{ id: 'pay', tool: 'pay', action: 'require_approval' }] });
    second = await startAirlock({
      config: parseConfig({
        demo: false,
        upstreams: { fixture: fixtureUpstream(h.logFile) },
        rules: [{ id: 'pay', tool: 'pay', action: 'require_approval' }],
      }),
      database: await openDatabase({ url: h.t.url }),
      port: 0,
      console: false,
    });
  });
  afterAll(async () => {
    await second?.close();
    await second?.database.close();
    await h?.close();
  });

  it('a call held by one instance reaches a console connected to the other', async () => {
    const reviewer = await h.person('approver');
    const owner = await h.person('approver');
    const token = await h.agent(owner.email);
    const c = follow(second.url, reviewer.token);
    await connected(c.socket);
    try {
      const client = await h.connect(token);
      const call = client.callTool({ name: 'pay', arguments: { to: 'acme', amount: 4 } });
      const created = await eventually(() => c.events.find((e) => e.status === 'pending'));
      // and the decision, recorded through the other instance's database handle, reaches the holder
      await decide(second.database, { requestId: created.id, user: { id: reviewer.id }, decision: 'approve' });
      expect((await call).isError).toBeFalsy();
      await eventually(() => c.events.some((e) => e.id === created.id && e.status === 'approved'));
    } finally {
      c.socket.close();
    }
  });
});

describe.skipIf(!backends().includes('postgres'))('a lost database subscription on postgres', () => {
  it('once subscribed again, tells consoles to resync and closes the sessions of agents revoked in the gap', async () => {
    const h = await startTestAirlock('postgres');
    const admin = connectPostgres(process.env.DATABASE_URL ?? '', { max: 1, onnotice: () => {} });
    try {
      const reviewer = await h.person('approver');
      const owner = await h.person('approver');
      const agentToken = await h.agent(owner.email, 'revoked-in-the-gap');
      const client = await h.connect(agentToken);
      const sessionId = (client.transport as { sessionId?: string }).sessionId ?? '';
      expect(h.airlock.gateway.session(sessionId)).toBeDefined();
      const c = follow(h.url, reviewer.token);
      const resyncs: number[] = [];
      c.socket.on('resync', () => resyncs.push(Date.now()));
      await connected(c.socket);

      // the listening connection drops while the database takes no new connection: notifications sent now are lost
      const name = new URL(h.t.url ?? '').pathname.slice(1);
      await admin.unsafe(`alter database ${name} with allow_connections false`);
      await admin.unsafe(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and query ilike 'listen%'`, [name]);
      // meanwhile the agent is revoked: its announcement goes nowhere
      await revokeAgent(h.t.database, { name: 'revoked-in-the-gap' });
      await new Promise((r) => setTimeout(r, 300));
      expect(h.airlock.gateway.session(sessionId)).toBeDefined();
      await admin.unsafe(`alter database ${name} with allow_connections true`);

      await eventually(() => resyncs.length > 0);
      await eventually(() => h.airlock.gateway.session(sessionId) === undefined);
      c.socket.close();
    } finally {
      await admin.unsafe(`alter database ${new URL(h.t.url ?? '').pathname.slice(1)} with allow_connections true`).catch(() => {});
      await admin.end();
      await h.close();
    }
  });
});
