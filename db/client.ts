import { join, resolve } from 'node:path';
import { MemoryFS, type messages, PGlite, protocol, types } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { Database, Orm } from './database';
import { lockDataDir } from './lock';
import * as schema from './schema';

/** Where the committed migrations are. */
export function migrationsFolder(): string {
  return resolve(import.meta.dirname, 'migrations');
}

export type OpenOptions = {
  /** postgres:// URL; when absent, the embedded PGlite database in `dataDir` is used. */
  url?: string;
  dataDir?: string;
  /** Run committed migrations before returning (default true). */
  migrate?: boolean;
  /**
   * PostgreSQL URL of the role that owns the schema, for migrations only. With it, `url` can
   * be a role that may not alter tables, so nothing Airlock runs can disable the audit
   * table's triggers (see README, "Least privilege on PostgreSQL").
   */
  migrationUrl?: string;
  /** Connection pool size for PostgreSQL. */
  max?: number;
};

export { DataDirLockedError } from './lock';

/** Open the configured database (PostgreSQL when `url` is set, PGlite otherwise) and migrate it. */
export async function openDatabase(options: OpenOptions = {}): Promise<Database> {
  const database = options.url ? await openPostgres(options.url, options.max) : await openPglite(options.dataDir);
  if (options.migrate !== false) await migrateDatabase(database, options.url ? (options.migrationUrl ?? options.url) : undefined);
  return database;
}

/** Where PGlite keeps its files for a data directory (default AIRLOCK_DATA_DIR, else `./.airlock`). */
export function embeddedDatabasePath(dataDir = process.env.AIRLOCK_DATA_DIR || '.airlock'): string {
  return join(resolve(dataDir), 'pgdata');
}

async function openPglite(dataDir = process.env.AIRLOCK_DATA_DIR || '.airlock'): Promise<Database> {
  const dir = resolve(dataDir);
  const unlock = dataDir === 'memory://' ? () => {} : lockDataDir(dir);
  let client: PGlite | undefined;
  try {
    client = await PGlite.create(dataDir === 'memory://' ? undefined : embeddedDatabasePath(dir));
    replaceLocks(client);
  } catch (error) {
    await client?.close().catch(() => {});
    unlock();
    throw error;
  }
  const orm = drizzlePglite({ client, schema }) as unknown as Orm;
  return {
    orm,
    kind: 'pglite',
    raw: preparedStatements(client),
    async listen(channel, onPayload) {
      const unsubscribe = await client.listen(channel, onPayload);
      return async () => unsubscribe();
    },
    async close() {
      await client.close();
      unlock();
    },
  };
}

/**
 * A first-in, first-out lock on native async functions. PGlite serializes its statements with
 * the async-mutex it bundles, which is compiled to generator-based awaiters, and what those
 * awaiters allocate outlives V8's young generation: in a loop of 20,000 `raw` statements,
 * 5.1 KB per statement survived the scavenges with async-mutex and 1.2 KB with this lock (V8's
 * sampling heap profiler, counting what no scavenge collected), each scavenge took 3.3-3.4 ms
 * instead of 1.8-2.6, and a statement 33-35 µs instead of 22-30. Those scavenges stop the
 * gateway's event loop with every call in flight.
 */
class FifoLock {
  #busy = false;
  readonly #waiting: (() => void)[] = [];

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#busy) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#busy = true;
    try {
      return await fn();
    } finally {
      // handed straight to the next in line: the lock never looks free while someone waits
      const next = this.#waiting.shift();
      if (next) next();
      else this.#busy = false;
    }
  }
}

/**
 * PGlite's statement and transaction locks replaced by FifoLocks. `query`, `exec`,
 * `transaction` and `raw` take them through `_runExclusiveTransaction` and
 * `_runExclusiveQuery`; `close` takes PGlite's own mutexes, so it is made to wait for these
 * first (a statement queued behind it then finds the database closed). `syncToFs`,
 * after every statement, takes one more mutex to call the filesystem's sync, which for the
 * built-in filesystems (a directory on disk, or memory) does nothing.
 */
function replaceLocks(client: PGlite): void {
  // these are PGlite's internals (package.json pins its version): without them the locks below
  // would serialize nothing, and a statement could run inside another caller's transaction
  for (const name of [
    '_runExclusiveQuery',
    '_runExclusiveTransaction',
    '_checkReady',
    'execProtocolStream',
    'syncToFs',
    'close',
  ] as const) {
    if (typeof client[name] !== 'function')
      throw new Error(`this PGlite has no ${name}(), which Airlock relies on: install the version package.json names`);
  }
  const transactions = new FifoLock();
  const statements = new FifoLock();
  client._runExclusiveTransaction = (fn) => transactions.run(fn);
  client._runExclusiveQuery = (fn) =>
    statements.run(async () => {
      // query() looks before it waits: a statement queued behind close() would find PGlite gone
      await client._checkReady();
      return fn();
    });
  const close = client.close.bind(client);
  client.close = async () => {
    // one turn first, as PGlite's close() and query() take: a statement issued just before
    // close() still runs, one issued after it is refused
    await client._checkReady();
    return transactions.run(() => statements.run(close));
  };
  if (client.fs?.syncToFs === Object.getPrototypeOf(MemoryFS.prototype).syncToFs) client.syncToFs = async () => {};
}

type Prepared = { name: string; paramTypes: number[]; fields: { name: string; dataTypeID: number }[] };

/** What follows every Bind: run the portal, end the implicit transaction (the same bytes each time). */
const EXECUTE_SYNC = Buffer.concat([protocol.serialize.execute({}), protocol.serialize.sync()]);

/**
 * `raw` on PGlite, with the statement prepared once, as postgres.js does on PostgreSQL.
 * PGlite's `query` makes six calls into PostgreSQL per statement (Parse, Describe, Bind,
 * Describe, Execute, Sync) and parses and plans the text every time; a prepared statement
 * runs in one call (Bind, Execute, Sync). Measured per append of one audit event: 114-161 µs
 * of wall time instead of 207-464 (2,000 in a row). It takes PGlite's two locks, as `query`
 * does, so it never runs inside another caller's transaction; `execProtocolStream` throws
 * PostgreSQL's errors and delivers notifications as `query` does. Each distinct text stays
 * prepared for the life of the database handle: `raw` is for a few fixed statements.
 */
function preparedStatements(client: PGlite): Database['raw'] {
  const statements = new Map<string, Promise<Prepared>>();
  let prepares = 0;
  const run = (message: Uint8Array) =>
    client._runExclusiveTransaction(() =>
      // the statement lock checks that PGlite is not closing (replaceLocks)
      client._runExclusiveQuery(() => client.execProtocolStream(message)),
    );
  const prepare = (text: string): Promise<Prepared> => {
    let prepared = statements.get(text);
    if (!prepared) {
      const name = `airlock_${++prepares}`;
      prepared = run(
        Buffer.concat([
          protocol.serialize.parse({ name, text, types: [] }),
          protocol.serialize.describe({ type: 'S', name }),
          protocol.serialize.sync(),
        ]),
      ).then((replies) => {
        const params = replies.find((m) => m.name === 'parameterDescription') as messages.ParameterDescriptionMessage | undefined;
        const rows = replies.find((m) => m.name === 'rowDescription') as messages.RowDescriptionMessage | undefined;
        return { name, paramTypes: params?.dataTypeIDs ?? [], fields: rows?.fields ?? [] };
      });
      // a text PostgreSQL refused is not kept: the caller sees the error, the next call tries again
      prepared.catch(() => statements.delete(text));
      statements.set(text, prepared);
    }
    return prepared;
  };
  const execute = async <T>(entry: Promise<Prepared>, params: unknown[]): Promise<T[]> => {
    const { name, paramTypes, fields } = await entry;
    // the values as PGlite's query serializes them: by the parameter's type, else as text
    const values = params.map((value, i) => {
      if (value === null || value === undefined) return null;
      const serialize = client.serializers[paramTypes[i]];
      return serialize ? serialize(value) : String(value);
    });
    const replies = await run(Buffer.concat([protocol.serialize.bind({ statement: name, values }), EXECUTE_SYNC]));
    const rows: T[] = [];
    for (const message of replies) {
      if (message.name !== 'dataRow') continue;
      const { fields: values } = message as messages.DataRowMessage;
      const row: Record<string, unknown> = {};
      for (const [i, field] of fields.entries()) row[field.name] = types.parseType(values[i], field.dataTypeID, client.parsers);
      rows.push(row as T);
    }
    return rows;
  };
  return async <T>(text: string, params: unknown[]): Promise<T[]> => {
    const entry = prepare(text);
    try {
      return await execute<T>(entry, params);
    } catch (error) {
      // the statement is gone (DEALLOCATE, DISCARD) or its plan no longer fits a changed table:
      // refused at Bind, it did not run. Prepared anew, once, as postgres.js does
      if (!invalidatedStatement(error)) throw error;
      if (statements.get(text) === entry) {
        statements.delete(text);
        const { name } = await entry;
        await run(Buffer.concat([protocol.serialize.close({ type: 'S', name }), protocol.serialize.sync()])).catch(() => {});
      }
      return execute<T>(prepare(text), params);
    }
  };
}

function invalidatedStatement(error: unknown): boolean {
  const { code, routine } = error as { code?: string; routine?: string };
  return code === '26000' || routine === 'RevalidateCachedQuery';
}

/**
 * postgres.js for a `postgres://` URL, also in libpq's forms for a Unix socket, which
 * postgres.js alone refuses: `postgres:///db?host=/run/postgresql` (it would send `host`
 * to the server as a setting) and `postgres://user@%2Frun%2Fpostgresql/db`.
 */
export function connectPostgres(url: string, options: postgres.Options<Record<string, postgres.PostgresType>> = {}) {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return postgres(url, options);
  }
  const socketDir = parsed.searchParams.get('host') ?? (/^%2f/i.test(parsed.hostname) ? decodeURIComponent(parsed.hostname) : null);
  if (!socketDir?.startsWith('/')) return postgres(url, options);
  parsed.searchParams.delete('host');
  parsed.hostname = 'localhost';
  return postgres(parsed.toString(), { ...options, host: socketDir });
}

/** How long a burst of re-subscriptions (see `listen`) must be quiet before subscribers hear of it. */
const RESUBSCRIBED_SETTLE_MS = 200;

async function openPostgres(url: string, max = 10): Promise<Database> {
  const client = connectPostgres(url, { max, onnotice: () => {}, connection: { application_name: 'airlock' } });
  // raw() has a connection of its own, for two reasons. The gateway's audit appends never wait
  // behind the console's or the API's queries for a pooled connection. And postgres.js hands each
  // query to the connection idle longest, so once a burst has opened the whole pool, appends
  // wake a different, cold backend each time; on one connection one backend stays warm. Its
  // caller, the audit writer, has one statement in flight at a time. Per sequential append with
  // the pool's ten connections open (3,000 in a row, three alternating pairs): 307-429 µs
  // instead of 329-821 on average, p99 1.1-2.4 ms instead of 1.5-4.1. (The bench's latency
  // phase runs before anything has opened more than a connection or two: no difference there.)
  const hot = connectPostgres(url, { max: 1, onnotice: () => {}, connection: { application_name: 'airlock-audit' } });
  // with the ORM connection's handling of types: drizzle sets it (dates and json as text) on the client it wraps
  drizzlePostgres({ client: hot });
  const orm = drizzlePostgres({ client, schema }) as unknown as Orm;
  return {
    orm,
    kind: 'postgres',
    async raw<T>(text: string, params: unknown[]) {
      return (await hot.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true })) as unknown as T[];
    },
    async listen(channel, onPayload, onResubscribed) {
      let active = true;
      let subscribed = false;
      let settle: NodeJS.Timeout | undefined;
      // postgres.js calls the last one at the first LISTEN and again whenever it has subscribed
      // anew after its listening connection dropped. It retries until it can, and a LISTEN queued
      // by each failed attempt succeeds at the end, each calling back: one call for the burst.
      // After a re-subscription its unlisten no longer reaches the new listener, hence `active`.
      const { unlisten } = await client.listen(
        channel,
        (payload) => {
          if (active) onPayload(payload);
        },
        () => {
          if (!subscribed) {
            subscribed = true;
            return;
          }
          clearTimeout(settle);
          settle = setTimeout(() => active && onResubscribed?.(), RESUBSCRIBED_SETTLE_MS).unref();
        },
      );
      return async () => {
        active = false;
        clearTimeout(settle);
        await unlisten();
      };
    },
    async close() {
      const ended = await Promise.allSettled([client.end({ timeout: 5 }), hot.end({ timeout: 5 })]);
      for (const result of ended) if (result.status === 'rejected') throw result.reason;
    },
  };
}

const MIGRATION_LOCK = 0x6169726c; // "airl"

/** Apply committed migrations; on PostgreSQL under an advisory lock so several instances can start at once. */
export async function migrateDatabase(database: Database, url?: string): Promise<void> {
  if (database.kind === 'pglite' || !url) {
    await migratePglite(database.orm as never, { migrationsFolder: migrationsFolder() });
    return;
  }
  const client = connectPostgres(url, { max: 1, onnotice: () => {} });
  try {
    await client`select pg_advisory_lock(${MIGRATION_LOCK})`;
    await migratePostgres(drizzlePostgres({ client }), { migrationsFolder: migrationsFolder() });
    await client`select pg_advisory_unlock(${MIGRATION_LOCK})`;
  } finally {
    await client.end({ timeout: 5 });
  }
}
