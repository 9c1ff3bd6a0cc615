import { performance } from 'node:perf_hooks';
import { and, eq, lt, ne, notExists, sql } from 'drizzle-orm';
import type { Database } from '../../db/database';
import { approvalRequests, gatewayInstances } from '../../db/schema';
import { cancelHeldBy } from '../approvals/lifecycle';
import { log } from '../lib/log';

export type InstanceLeaseOptions = {
  /** How often the lease is renewed and lapsed ones looked for (ms, default 5 s); a lease lasts six times as long. */
  heartbeatMs?: number;
};

/** Why a request held by a process that stopped renewing its lease was cancelled. */
export const HOLDER_LOST_REASON = 'the Airlock process holding this call stopped (its connection to the agent is gone)';

/**
 * This process's lease in `gateway_instances`, for several Airlock processes on one
 * PostgreSQL. It is renewed every heartbeat; on its own timer, the process looks for leases
 * that lapsed more than a heartbeat ago and cancels the requests their processes held
 * (audited, consoles told), since the agent's connection died with its process and an
 * approval could never reach it.
 *
 * A process judges others only after its own renewals have succeeded, each on time, for a
 * whole lease: after a database outage or stall every lease has lapsed, and each process
 * needs a heartbeat to renew its own before anyone may call it dead; a process whose own
 * renewals fall behind judges nobody. A process wrongly judged (stalled longer than its
 * lease) only loses calls, which then never run: fail closed. Requests of a holder that never
 * took a lease (a previous version during a rolling upgrade) are left to their deadline.
 */
export class InstanceLease {
  private readonly heartbeatMs: number;
  private readonly leaseMs: number;
  private renewTimer?: Repeating;
  private sweepTimer?: Repeating;
  /** Monotonic times: the last renewal that succeeded, and the start of the unbroken run of timely ones. */
  private lastRenewal: number | null = null;
  private healthySince: number | null = null;

  constructor(
    private readonly database: Database,
    private readonly instanceId: string,
    options: InstanceLeaseOptions = {},
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 5000;
    this.leaseMs = this.heartbeatMs * 6;
  }

  /** Take the lease (throws when the database refuses: a process that cannot hold a lease must not hold calls). */
  async start(): Promise<void> {
    await this.renewOnTime();
    this.renewTimer = every(this.heartbeatMs, () =>
      this.renewOnTime().catch((error) => {
        this.lastRenewal = this.healthySince = null;
        log.warn('gateway: lease renewal failed', { error: String(error) });
      }),
    );
    this.sweepTimer = every(this.heartbeatMs, () =>
      this.sweep().catch((error) => log.warn('gateway: sweep of lapsed leases failed', { error: String(error) })),
    );
  }

  /** Let the lease lapse now: this process holds nothing any more, and what it missed is swept by the others. */
  async stop(): Promise<void> {
    await Promise.all([this.renewTimer?.stop(), this.sweepTimer?.stop()]);
    await this.database.orm
      .update(gatewayInstances)
      .set({ leaseUntil: sql`now()` })
      .where(eq(gatewayInstances.id, this.instanceId))
      .catch((error) => log.warn('gateway: could not give up its lease', { error: String(error) }));
  }

  private async renewOnTime(): Promise<void> {
    const started = performance.now();
    // the database's clock on both sides of every comparison: hosts' clocks may disagree
    const leaseUntil = sql`now() + make_interval(secs => ${this.leaseMs / 1000})`;
    await this.database.orm
      .insert(gatewayInstances)
      .values({ id: this.instanceId, leaseUntil })
      .onConflictDoUpdate({ target: gatewayInstances.id, set: { leaseUntil } });
    const now = performance.now();
    // late (a gap since the last renewal, or a slow one): the database or this process stalled,
    // and the others may have missed their renewals too, so the count starts again
    const late = this.lastRenewal === null || started - this.lastRenewal > 2 * this.heartbeatMs || now - started > this.heartbeatMs;
    if (late) this.healthySince = now;
    this.lastRenewal = now;
  }

  private async sweep(): Promise<void> {
    const now = performance.now();
    if (this.lastRenewal === null || this.healthySince === null) return;
    if (now - this.lastRenewal > 2 * this.heartbeatMs) return; // this process is the one behind
    if (now - this.healthySince < this.leaseMs) return;
    const lapsed = and(
      lt(gatewayInstances.leaseUntil, sql`now() - make_interval(secs => ${this.heartbeatMs / 1000})`),
      ne(gatewayInstances.id, this.instanceId),
    );
    await this.database.orm.transaction(async (tx) => {
      // one statement reads the lapsed leases and cancels what they held
      await cancelHeldBy(tx, tx.select({ id: gatewayInstances.id }).from(gatewayInstances).where(lapsed), {
        reason: HOLDER_LOST_REASON,
        actor: { type: 'system' },
      });
      const holding = tx
        .select({ id: approvalRequests.id })
        .from(approvalRequests)
        .where(and(eq(approvalRequests.holder, gatewayInstances.id), eq(approvalRequests.status, 'pending')));
      await tx.delete(gatewayInstances).where(and(lapsed, notExists(holding)));
    });
  }
}

type Repeating = { stop(): Promise<void> };

/** Run `task` every `ms`, never two at once (a slow run delays the next); `stop` waits for the one running. */
function every(ms: number, task: () => Promise<void>): Repeating {
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    running ??= task().finally(() => {
      running = null;
    });
  }, ms);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
