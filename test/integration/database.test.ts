import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
