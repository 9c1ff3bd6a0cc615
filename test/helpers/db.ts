import { randomBytes } from 'node:crypto';
import { connectPostgres, openDatabase } from '../../db/client';
import type { Database } from '../../db/database';

export type Backend = 'pglite' | 'postgres';

/**
 * The backends this run covers: PGlite always; PostgreSQL when DATABASE_URL is set.
 * In CI a missing PostgreSQL is a failure, not a skip.
 */
export function backends(): Backend[] {
  if (process.env.DATABASE_URL) return ['pglite', 'postgres'];
  if (process.env.CI === 'true') throw new Error('CI=true but DATABASE_URL is not set: the PostgreSQL suite cannot be skipped in CI');
  return ['pglite'];
}

export type TestDatabase = {
  database: Database;
  /** The PostgreSQL URL of this test's own database (undefined on PGlite). */
  url?: string;
  close(): Promise<void>;
};

/** A fresh, migrated database: in-memory PGlite, or a new database on the PostgreSQL server. */
export async function openTestDatabase(backend: Backend): Promise<TestDatabase> {
  if (backend === 'pglite') {
    const database = await openDatabase({ dataDir: 'memory://' });
    return { database, close: () => database.close() };
  }
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) throw new Error('DATABASE_URL is not set');
  const name = `airlock_test_${randomBytes(6).toString('hex')}`;
  const admin = connectPostgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ url: url.toString() });
  return {
    database,
    url: url.toString(),
    async close() {
      await database.close();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

/**
 * A new, empty database on the PostgreSQL server, not opened here (for tests that run
 * another process against it, like the CLI). `drop()` removes it, even if still connected.
 */
export async function createTestDatabaseUrl(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) throw new Error('DATABASE_URL is not set');
  const name = `airlock_test_${randomBytes(6).toString('hex')}`;
  const admin = connectPostgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}
