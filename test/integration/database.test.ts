import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, openDatabase } from '../../db/client';
import { type Database, query } from '../../db/database';
import { auditEvents } from '../../db/schema';
import { appendAudit, appendAuditNow } from '../../server/audit/append';
import { verifyAudit } from '../../server/audit/verify';
import { AuditWriter } from '../../server/audit/writer';
import { eventually } from '../helpers/airlock';
import { backends, createTestDatabaseUrl, openTestDatabase, type TestDatabase } from '../helpers/db';

describe.each(backends())('database on %s', (backend) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await openTestDatabase(backend);
  });
  afterAll(() => t?.close());

  it('applies the committed migrations', async () => {
    const tables = await query<{ table_name: string }>(
      t.database.orm,
      sql`select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
    );
    expect(tables.map((row) => row.table_name)).toEqual(
      expect.arrayContaining(['agents', 'api_tokens', 'approval_requests', 'approval_votes', 'audit_events', 'upstreams', 'users']),
    );
  });

  it('delivers NOTIFY to a listener', async () => {
    const received = new Promise<string>((resolve) => {
      void t.database.listen('airlock_test', resolve);
    });
    await new Promise((r) => setTimeout(r, 50));
    await t.database.orm.execute(sql`select pg_notify('airlock_test', 'hello')`);
    await expect(received).resolves.toBe('hello');
  });

  it('keeps one hash chain when single, batched and transactional appends run at once', async () => {
    const event = (n: number) => ({ type: 'test.append', actor: { type: 'system' as const }, payload: { n } });
    const before = await verifyAudit(t.database.orm);
    expect(before.ok).toBe(true);
    const writes = Array.from({ length: 60 }, (_, i) => {
      // airlock_audit_append_one, airlock_audit_append_batch outside a transaction, and inside one
      if (i % 3 === 0) return appendAuditNow(t.database, [event(i)]);
      if (i % 3 === 1) return appendAuditNow(t.database, [event(i), event(i + 1000)]);
      return t.database.orm.transaction((tx) => appendAudit(tx, event(i)));
    });
    await Promise.all(writes);
    const after = await verifyAudit(t.database.orm);
    expect(after).toMatchObject({ ok: true, count: before.count + 80 });
  });

  it('runs raw statements prepared, with the types the ORM reads', async () => {
    const text =
      'select $1::int4 as i, $2::int8 as b, $3::text as t, $4::text as n, $5::timestamptz as at, $6::jsonb as j, $7::bool as ok, array[$3, $3]::text[] as arr';
    const at = new Date('2026-12-05T10:00:00.123Z');
    const params = [42, 9_007_199_254_740_000, 'it’s "quoted" \\ and ünïcode', null, at.toISOString(), '{"a":[1,2]}', true];
    const viaOrm = await query(
      t.database.orm,
      sql`select ${params[0]}::int4 as i, ${params[1]}::int8 as b, ${params[2]}::text as t, ${params[3]}::text as n,
          ${at.toISOString()}::timestamptz as at, ${params[5]}::jsonb as j, ${params[6]}::bool as ok, array[${params[2]}, ${params[2]}]::text[] as arr`,
    );
    // twice: the first run prepares the statement, the second reuses it
    for (let run = 0; run < 2; run++) {
      const rows = await t.database.raw<Record<string, unknown>>(text, params);
      expect(rows).toHaveLength(1);
      expect({ ...rows[0], at: new Date(rows[0].at as string | Date).getTime() }).toEqual({
        ...viaOrm[0],
        at: new Date(viaOrm[0].at as string | Date).getTime(),
      });
      expect(rows[0]).toMatchObject({ t: params[2], n: null, ok: true, arr: [params[2], params[2]] });
    }
    // prepared once, on the connection that ran it
    const [prepared] = await t.database.raw<{ n: number }>('select count(*)::int as n from pg_prepared_statements where statement = $1', [
      text,
    ]);
    expect(prepared.n).toBe(1);
  });

  it('reports a raw statement’s error and keeps serving', async () => {
    await expect(t.database.raw('select 1 / $1::int4 as x', [0])).rejects.toThrow(/division by zero/);
    await expect(t.database.raw('select $1::int4 as x', ['not a number'])).rejects.toThrow(/invalid input syntax/);
    await expect(t.database.raw('select count(*)::int as n from raw_later', [])).rejects.toThrow(/raw_later/);
    expect(await t.database.raw('select 1 / $1::int4 as x', [1])).toEqual([{ x: 1 }]);
    // a text refused at first is not remembered as refused
    await t.database.orm.execute(sql`create table raw_later (a int)`);
    expect(await t.database.raw('select count(*)::int as n from raw_later', [])).toEqual([{ n: 0 }]);
  });

  it('prepares a raw statement anew when its table changed or it was deallocated', async () => {
    await t.database.orm.execute(sql`create table raw_changing (a int)`);
    await t.database.orm.execute(sql`insert into raw_changing values (1)`);
    const text = 'select * from raw_changing where a = $1';
    expect(await t.database.raw(text, [1])).toEqual([{ a: 1 }]);
    // the prepared plan no longer fits the table
    await t.database.orm.execute(sql`alter table raw_changing add column b text default 'x'`);
    expect(await t.database.raw(text, [1])).toEqual([{ a: 1, b: 'x' }]);
    // every prepared statement of the session dropped (on PGlite the session is the raw statement's)
    await t.database.orm.execute(sql`deallocate all`);
    expect(await t.database.raw(text, [1])).toEqual([{ a: 1, b: 'x' }]);
  });

  it('returns each appended event as it is stored', async () => {
    const input = (n: number) => ({
      type: 'test.returned',
      actor: { type: 'agent' as const, id: `agent-${n}` },
      requestId: `request-${n}`,
      sessionId: `session-${n}`,
      payload: { n, nested: { text: 'é' } },
    });
    const writer = new AuditWriter(t.database);
    const returned = [
      ...(await appendAuditNow(t.database, [input(1)])),
      ...(await appendAuditNow(t.database, [input(2), input(3)], ['{"n":2,"nested":{"text":"é"}}', JSON.stringify(input(3).payload)])),
      await writer.record(input(4)),
    ];
    await writer.close();
    const stored = await t.database.orm
      .select()
      .from(auditEvents)
      .where(
        inArray(
          auditEvents.id,
          returned.map((event) => event.id),
        ),
      )
      .orderBy(auditEvents.seq);
    expect(returned).toStrictEqual(stored);
    expect(returned.map((event) => event.payload)).toEqual([1, 2, 3, 4].map((n) => input(n).payload));
    expect((await verifyAudit(t.database.orm)).ok).toBe(true);
  });

  it('refuses, with a clear error, every statement issued once the database is closing', async () => {
    const other = await openTestDatabase(backend);
    expect(await other.database.raw('select 1 as x', [])).toEqual([{ x: 1 }]);
    const closing = other.close();
    const statements = [
      other.database.raw('select 1 as x', []),
      query(other.database.orm, sql`select 8 as y`),
      other.database.orm.transaction((tx) => query(tx, sql`select 9 as z`)),
    ];
    const outcomes = await Promise.allSettled(statements);
    // not an error from a database torn down under the statement (the ORM's error names the
    // driver's as its cause)
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      const { message, cause } = (outcome as PromiseRejectedResult).reason as Error & { cause?: Error };
      expect(`${message} ${cause?.message ?? ''}`).toMatch(/PGlite is closed|CONNECTION_ENDED/);
    }
    await closing;
  });

  it('lets a transaction open when close() is called finish first', async () => {
    const other = await openTestDatabase(backend);
    let closing: Promise<void> | undefined;
    const transaction = other.database.orm.transaction(async (tx) => {
      await query(tx, sql`select 1 as x`);
      closing = other.close();
      await new Promise((resolve) => setTimeout(resolve, 20));
      return query<{ z: number }>(tx, sql`select 9 as z`);
    });
    await expect(transaction).resolves.toEqual([{ z: 9 }]);
    await closing;
  });

  it('never runs a raw statement inside another caller’s transaction', async () => {
    const event = { type: 'test.outside', actor: { type: 'system' as const }, payload: {} };
    let outside: Promise<unknown> | undefined;
    await expect(
      t.database.orm.transaction(async (tx) => {
        await appendAudit(tx, { ...event, type: 'test.rolled_back' });
        // issued while the transaction is open, which then rolls back: a raw append and one
        // through the ORM
        outside = Promise.all([appendAuditNow(t.database, [event]), appendAudit(t.database.orm, { ...event, type: 'test.outside_orm' })]);
        await new Promise((resolve) => setTimeout(resolve, 50));
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    await outside;
    const rows = await query<{ type: string }>(
      t.database.orm,
      sql`select type from audit_events where type in ('test.outside', 'test.outside_orm', 'test.rolled_back') order by type`,
    );
    expect(rows.map((row) => row.type)).toEqual(['test.outside', 'test.outside_orm']);
    expect((await verifyAudit(t.database.orm)).ok).toBe(true);
  });

  it('delivers a NOTIFY sent by a raw statement', async () => {
    let resolveReceived: (payload: string) => void = () => {};
    const received = new Promise<string>((resolve) => {
      resolveReceived = resolve;
    });
    const unlisten = await t.database.listen('airlock_test_raw', (payload) => resolveReceived(payload));
    try {
      await t.database.raw('select pg_notify($1, $2)', ['airlock_test_raw', 'hello']);
      await expect(received).resolves.toBe('hello');
    } finally {
      await unlisten();
    }
  });
});

describe('PGlite with Airlock’s statement locks', () => {
  const pgliteOf = (database: Database) => (database.orm as unknown as { $client: PGlite }).$client;

  it.each(['a data directory', 'memory'])('replaces its locks and its empty filesystem sync in %s', async (where) => {
    const dir = where === 'memory' ? 'memory://' : mkdtempSync(join(tmpdir(), 'airlock-locks-'));
    const database = await openDatabase({ dataDir: dir });
    try {
      const client = pgliteOf(database);
      for (const name of ['_runExclusiveQuery', '_runExclusiveTransaction', 'close', 'syncToFs']) {
        expect(Object.hasOwn(client, name), name).toBe(true);
      }
      expect(await database.raw('select 1 as x', [])).toEqual([{ x: 1 }]);
    } finally {
      await database.close();
      if (dir !== 'memory://') rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs what was issued to PGlite just before close(), as PGlite alone does', async () => {
    const { database, close } = await openTestDatabase('pglite');
    const client = pgliteOf(database);
    const before = [client.query<{ x: number }>('select 1 as x'), client.transaction((tx) => tx.query<{ y: number }>('select 2 as y'))];
    await close();
    expect((await Promise.all(before)).map((result) => result.rows)).toEqual([[{ x: 1 }], [{ y: 2 }]]);
  });
});

describe.skipIf(!backends().includes('postgres'))('audit appends on PostgreSQL', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await openTestDatabase('postgres');
  });
  afterAll(() => t?.close());

  it('do not wait for a pooled connection while every one is busy', async () => {
    // every connection of the pool (openDatabase's default of 10) busy for 2 s
    let slowDone = 0;
    const slow = Array.from({ length: 10 }, () =>
      query(t.database.orm, sql`select pg_sleep(2)`).then(() => {
        slowDone++;
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const [event] = await appendAuditNow(t.database, [{ type: 'test.busy_pool', actor: { type: 'system' }, payload: {} }]);
    expect(event.type).toBe('test.busy_pool');
    expect(slowDone).toBe(0);
    await Promise.all(slow);
  });
});

describe.skipIf(!backends().includes('postgres'))('PostgreSQL over a Unix socket', () => {
  let t: TestDatabase;
  let socketDir: string;
  beforeAll(async () => {
    t = await openTestDatabase('postgres');
    const [row] = await t.database.raw<{ dirs: string }>('select current_setting($1) as dirs', ['unix_socket_directories']);
    socketDir = row.dirs.split(',')[0].trim();
  });
  afterAll(() => t?.close());

  it('accepts libpq’s socket URLs: ?host=/dir and a percent-encoded directory as the host', async () => {
    const tcp = new URL(t.url ?? '');
    const database = tcp.pathname.slice(1);
    const user = decodeURIComponent(tcp.username) || 'postgres';
    expect(socketDir).toMatch(/^\//);
    for (const url of [
      `postgres:///${database}?host=${socketDir}&user=${user}`,
      `postgres://${user}@${encodeURIComponent(socketDir)}/${database}`,
    ]) {
      const opened = await openDatabase({ url, migrate: false });
      try {
        // no server address: the connection is the socket, to the same database
        const [row] = await opened.raw<{ addr: string | null; db: string }>(
          'select inet_server_addr() as addr, current_database() as db',
          [],
        );
        expect(row).toEqual({ addr: null, db: database });
      } finally {
        await opened.close();
      }
    }
  });
});

describe.skipIf(!backends().includes('postgres'))('LISTEN on PostgreSQL', () => {
  it('tells each subscriber once when it is subscribed anew after its connection dropped, and delivers again', async () => {
    const created = await createTestDatabaseUrl();
    const name = new URL(created.url).pathname.slice(1);
    const admin = connectPostgres(process.env.DATABASE_URL ?? '', { max: 1, onnotice: () => {} });
    const database = await openDatabase({ url: created.url });
    try {
      // two channels, as Airlock has: they share postgres.js's one listening connection
      const channels = ['airlock_test', 'airlock_test_other'];
      const heard = new Map(channels.map((c) => [c, [] as string[]]));
      const resubscribed = new Map(channels.map((c) => [c, 0]));
      const unlisten = new Map<string, () => Promise<void>>();
      for (const channel of channels) {
        const stop = await database.listen(
          channel,
          (payload) => heard.get(channel)?.push(payload),
          () => resubscribed.set(channel, (resubscribed.get(channel) ?? 0) + 1),
        );
        unlisten.set(channel, stop);
      }
      const notify = (channel: string, payload: string) => database.orm.execute(sql`select pg_notify(${channel}, ${payload})`);
      const heardAll = (payload: string) => channels.every((c) => heard.get(c)?.includes(payload));
      for (const channel of channels) await notify(channel, 'before');
      await eventually(() => heardAll('before'));
      // the listening connection drops while the database takes no new ones: postgres.js retries until it can
      // LISTEN again (every few ms, queueing a LISTEN per channel each time)
      await admin.unsafe(`alter database ${name} with allow_connections false`);
      const [dropped] = await admin.unsafe(
        `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = $1 and query ilike 'listen%'`,
        [name],
      );
      expect(dropped.n).toBe(1);
      await new Promise((r) => setTimeout(r, 500));
      await admin.unsafe(`alter database ${name} with allow_connections true`);
      // subscribed again: notifications arrive again
      await eventually(async () => {
        for (const channel of channels) await notify(channel, 'after');
        return heardAll('after');
      }, 10_000);
      // each subscriber is told once, to re-read what it may have missed, however many attempts it took
      await new Promise((r) => setTimeout(r, 1000));
      expect(Object.fromEntries(resubscribed)).toEqual({ airlock_test: 1, airlock_test_other: 1 });
      expect([...new Set(heard.get('airlock_test'))]).toEqual(['before', 'after']);
      // unsubscribing still works after a re-subscription (notifications on one connection keep their order)
      await unlisten.get('airlock_test')?.();
      await notify('airlock_test', 'after unlisten');
      await notify('airlock_test_other', 'still');
      await eventually(() => heard.get('airlock_test_other')?.includes('still'));
      expect(heard.get('airlock_test')).not.toContain('after unlisten');
    } finally {
      await database.close();
      await admin.end();
      await created.drop();
    }
  });
});
