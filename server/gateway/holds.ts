import type { Database } from '../../db/database';
import { closeRequest, loadOutcomes } from '../approvals/lifecycle';
import { APPROVALS_CHANNEL, type Outcome, parseApprovalNotice } from '../approvals/types';
import type { AuditActor } from '../audit/append';
import { log } from '../lib/log';

type Waiter = { resolve: (outcome: Outcome) => void; timer: NodeJS.Timeout; announced?: (status: string) => void };

export type Cancellation = { id: string; reason: string; actor: AuditActor; expiresAt: Date };

export type HoldRegistryOptions = {
  /** Backstop re-check of every held request, for a lost NOTIFY (ms). */
  recheckMs?: number;
};

/**
 * Where held calls wait for their outcome. A decision from any process arrives as a
 * NOTIFY (invariant 6: only a hint, the outcome is read from the database); a periodic
 * re-check covers a lost notification; the holder expires its own requests on time.
 */
export class HoldRegistry {
  private readonly waiters = new Map<string, Waiter>();
  /** Cancellations the database did not take: retried by the re-check until it does, or the request expires. */
  private readonly unrecorded = new Map<string, Cancellation>();
  private unlisten?: () => Promise<void>;
  private recheckTimer?: NodeJS.Timeout;

  constructor(
    private readonly database: Database,
    private readonly options: HoldRegistryOptions = {},
  ) {}

  async start(): Promise<void> {
    this.unlisten = await this.database.listen(
      APPROVALS_CHANNEL,
      (payload) => {
        // unreadable: dropped, and the periodic re-check covers whatever it meant
        const notice = parseApprovalNotice(payload);
        const waiter = notice && this.waiters.get(notice.id);
        if (!notice || !waiter || notice.status === 'pending') return;
        waiter.announced?.(notice.status);
        void this.check([notice.id]);
      },
      () => void this.check([...this.waiters.keys()]),
    );
    this.recheckTimer = setInterval(() => {
      void this.check([...this.waiters.keys()]);
      void this.retryCancellations();
    }, this.options.recheckMs ?? 2000);
    this.recheckTimer.unref();
  }

  get size(): number {
    return this.waiters.size;
  }

  /**
   * Wait for a request's terminal outcome; at `expiresAt` the request is expired (fail closed).
   * `announced` hears the status a NOTIFY carries, before the outcome is read: a hint to
   * prepare by, never to act on.
   */
  wait(id: string, expiresAt: Date, announced?: (status: string) => void): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const delay = Math.max(0, expiresAt.getTime() - Date.now());
      const timer = setTimeout(() => void this.expire(id), Math.min(delay, 2 ** 31 - 1));
      this.waiters.set(id, { resolve, timer, announced });
    });
  }

  /** Stop waiting without an outcome (the caller cancels the request itself). */
  forget(id: string): void {
    const waiter = this.waiters.get(id);
    if (!waiter) return;
    clearTimeout(waiter.timer);
    this.waiters.delete(id);
  }

  /**
   * Cancel a request no call waits on any more: true when this changed it, false when it was
   * decided first. When the database fails, the cancellation is retried (the error is still
   * thrown: the call ends unrun either way), so the request does not stay approvable until it
   * expires, for a result nobody would receive.
   */
  async cancel(cancellation: Cancellation): Promise<boolean> {
    this.forget(cancellation.id);
    try {
      return await closeRequest(this.database, { ...cancellation, status: 'cancelled' });
    } catch (error) {
      this.unrecorded.set(cancellation.id, cancellation);
      throw error;
    }
  }

  private async retryCancellations(): Promise<void> {
    for (const [id, cancellation] of this.unrecorded) {
      // past its deadline the expiry sweep closes it
      if (cancellation.expiresAt.getTime() <= Date.now()) {
        this.unrecorded.delete(id);
        continue;
      }
      try {
        await closeRequest(this.database, { ...cancellation, status: 'cancelled' });
        this.unrecorded.delete(id);
      } catch (error) {
        log.debug('gateway: a cancellation is still not recorded', { id, error: String(error) });
        return; // the database is still failing: the next re-check tries again
      }
    }
  }

  private async expire(id: string): Promise<void> {
    const again = () => {
      const waiter = this.waiters.get(id);
      if (waiter) waiter.timer = setTimeout(() => void this.expire(id), 1000);
    };
    try {
      await closeRequest(this.database, { id, status: 'expired', reason: 'no decision before the deadline', actor: { type: 'system' } });
    } catch {
      // database unreachable: tried again; the call stays held, never executed
      return again();
    }
    await this.check([id]);
    // still pending: this process's clock ran ahead of the database's, which decides the deadline
    again();
  }

  /** Read outcomes from the database and release the waiters whose request is settled. */
  async check(ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      let outcomes: Outcome[];
      try {
        outcomes = await loadOutcomes(this.database.orm, ids.slice(i, i + 500));
      } catch {
        return; // the next re-check tries again
      }
      for (const outcome of outcomes) {
        const waiter = this.waiters.get(outcome.id);
        if (!waiter) continue;
        this.forget(outcome.id);
        waiter.resolve(outcome);
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.recheckTimer);
    await this.unlisten?.();
    for (const id of [...this.waiters.keys()]) this.forget(id);
  }
}
