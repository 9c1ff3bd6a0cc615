import type { SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type * as schema from './schema';

// The database handle as the rest of Airlock uses it, with no driver in sight: route
// handlers that Next bundles import this module, never db/client (which opens PGlite or
// PostgreSQL, and only in server/index.ts, the CLI and tests).

export type Schema = typeof schema;
export type Orm = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = Parameters<Parameters<Orm['transaction']>[0]>[0];
/** Either the whole database or an open transaction: queries accept both. */
export type Executor = Orm | Tx;

/** One database handle for both backends: the drizzle instance plus LISTEN/NOTIFY. */
export type Database = {
  orm: Orm;
  kind: 'pglite' | 'postgres';
  /**
   * One parameterized statement straight through the driver, prepared (on PostgreSQL on a
   * connection of its own): for the hot path, the gateway's audit appends.
   */
  raw<T = Record<string, unknown>>(text: string, params: unknown[]): Promise<T[]>;
  /**
   * Subscribe to a NOTIFY channel; resolves to an unsubscribe function. `onResubscribed` runs
   * after the subscription was lost and made again (PostgreSQL): notifications sent in the gap
   * are gone, so a subscriber re-reads what it follows.
   */
  listen(channel: string, onPayload: (payload: string) => void, onResubscribed?: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
};

/** Rows of a raw `execute`, whichever driver ran it. */
export async function query<T = Record<string, unknown>>(db: Executor, statement: SQL): Promise<T[]> {
  const result = (await db.execute(statement)) as unknown as { rows?: T[] } | T[];
  return Array.isArray(result) ? result : (result.rows ?? []);
}
