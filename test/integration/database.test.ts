import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/client';
import { query } from '../../db/database';
import { backends, openTestDatabase, type TestDatabase } from '../helpers/db';

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
