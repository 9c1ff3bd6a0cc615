import type { Database } from '../db/database';
import type { Config } from './config/schema';

/**
 * Process-wide singletons. Next compiles route handlers into separate module instances,
 * so they are kept on a typed `globalThis` holder that `server/index.ts` fills at start.
 */
export type Runtime = {
  db: Database;
  config: Config;
  /** Identifies this process among instances sharing one PostgreSQL. */
  instanceId: string;
  /** Base URL reviewers use, for messages to agents. */
  publicUrl: string;
};

const holder = globalThis as typeof globalThis & { __airlock?: Runtime };

export function setRuntime(runtime: Runtime | undefined): void {
  holder.__airlock = runtime;
}

/** Clear the holder if it still holds this instance (another may have started since). */
export function clearRuntime(instanceId: string): void {
  if (holder.__airlock?.instanceId === instanceId) holder.__airlock = undefined;
}

export function runtime(): Runtime {
  if (!holder.__airlock) throw new Error('Airlock runtime is not started (run the server through server/index.ts)');
  return holder.__airlock;
}

/** The process's database handle. */
export function db(): Database {
  return runtime().db;
}
