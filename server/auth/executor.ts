import type { Database, Executor } from '../../db/database';

/** Domain functions accept the database or an open transaction (to join the caller's transaction). */
export type DatabaseOrExecutor = Database | Executor;

/** The drizzle handle behind either form. */
export function executor(db: DatabaseOrExecutor): Executor {
  return 'orm' in db ? db.orm : db;
}

/**
 * Run `fn` in a transaction: a new one on a database, a savepoint inside a caller's
 * transaction, so an audit row always commits (or rolls back) with its change.
 */
export function inTransaction<T>(db: DatabaseOrExecutor, fn: (tx: Executor) => Promise<T>): Promise<T> {
  const handle = executor(db) as Database['orm'];
  return handle.transaction((tx) => fn(tx));
}
