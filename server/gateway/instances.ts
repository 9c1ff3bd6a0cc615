import { and, eq, lt, ne, notExists, sql } from 'drizzle-orm';
import type { Database } from '../../db/database';
import { approvalRequests, gatewayInstances } from '../../db/schema';
import { closeRequest } from '../approvals/lifecycle';
import { log } from '../lib/log';

export type InstanceLeaseOptions = {
  /** How often the lease is renewed (ms, default 5 s); it lasts six times as long. */
  heartbeatMs?: number;
};

/** Why a request held by a process that stopped renewing its lease was cancelled. */
export const HOLDER_LOST_REASON = 'the Airlock process holding this call stopped (its connection to the agent is gone)';

/**
 * This process's lease in `gateway_instances`, for several Airlock processes on one
 * PostgreSQL. Every heartbeat renews it and then looks for processes whose lease ran out:
 * the requests they held are cancelled (audited, consoles told), since the agent's
 * connection died with its process and an approval could never reach it.
 *
 * Another process is judged only after this one has renewed its own lease without a
 * failure for a whole lease: after a database outage, every lease has run out, and each
 * process needs a heartbeat to renew its own before anyone may call it dead. A process
 * wrongly judged (stalled longer than its lease) only loses calls, which then never run:
 * fail closed. Requests of a holder that never took a lease (an older version during a
 * rolling upgrade) are left to their deadline.
 */
export class InstanceLease {
  private timer?: NodeJS.Timeout;
  private healthySince: number | null = null;
  private readonly heartbeatMs: number;
  private readonly leaseMs: number;
  private ticking: Promise<void> | null = null;

  constructor(
    private readonly database: Database,
    private readonly instanceId: string,
    options: InstanceLeaseOptions = {},
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 5000;
    this.leaseMs = this.heartbeatMs * 6;
  }

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => {
      this.ticking ??= this.tick().finally(() => {
        this.ticking = null;
      });
    }, this.heartbeatMs);
    this.timer.unref();
  }

  /** Give the lease up: this process holds nothing any more (its sessions are closed). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
    await this.database.orm
      .delete(gatewayInstances)
      .where(eq(gatewayInstances.id, this.instanceId))
      .catch((error) => log.warn('gateway: could not give up its lease', { error: String(error) }));
  }

  private async tick(): Promise<void> {
    try {
      await this.renew();
    } catch (error) {
      this.healthySince = null;
      log.warn('gateway: lease renewal failed', { error: String(error) });
      return;
    }
    const now = Date.now();
    this.healthySince ??= now;
    if (now - this.healthySince < this.leaseMs) return;
    await this.cancelLost().catch((error) => log.warn('gateway: sweep of lost holders failed', { error: String(error) }));
  }

  private async renew(): Promise<void> {
    // the database's clock on both sides of the comparison: hosts' clocks may disagree
    const leaseUntil = sql`now() + make_interval(secs => ${this.leaseMs / 1000})`;
    await this.database.orm
      .insert(gatewayInstances)
      .values({ id: this.instanceId, leaseUntil })
      .onConflictDoUpdate({ target: gatewayInstances.id, set: { leaseUntil } });
  }

  /** Cancel what processes with a lapsed lease held, then forget those that hold nothing. */
  private async cancelLost(): Promise<void> {
    const lapsed = and(lt(gatewayInstances.leaseUntil, sql`now()`), ne(gatewayInstances.id, this.instanceId));
    const orphans = await this.database.orm
      .select({ id: approvalRequests.id })
      .from(approvalRequests)
      .innerJoin(gatewayInstances, eq(gatewayInstances.id, approvalRequests.holder))
      .where(and(eq(approvalRequests.status, 'pending'), lapsed))
      .limit(500);
    for (const { id } of orphans)
      await closeRequest(this.database, { id, status: 'cancelled', reason: HOLDER_LOST_REASON, actor: { type: 'system' } });
    const holding = this.database.orm
      .select({ id: approvalRequests.id })
      .from(approvalRequests)
      .where(and(eq(approvalRequests.holder, gatewayInstances.id), eq(approvalRequests.status, 'pending')));
    await this.database.orm.delete(gatewayInstances).where(and(lapsed, notExists(holding)));
  }
}
