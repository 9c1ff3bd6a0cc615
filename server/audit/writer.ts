import type { Database } from '../../db/database';
import { type AuditEvent, type AuditInput, appendAuditNow } from './append';

/** Enough to amortise a commit, small enough to keep one transaction short. */
const MAX_BATCH = 500;

type Pending = { input: AuditInput; payloadText: string; resolve: (event: AuditEvent) => void; reject: (error: unknown) => void };

/**
 * Group commit for high-rate audit events (every allowed tool call is one). `record()`
 * queues an event and resolves once the transaction holding it has committed, so a
 * caller that awaits it never acts ahead of its audit row (invariant 5). One flush runs
 * at a time: events recorded meanwhile go into the next transaction, up to 500 each.
 */
export class AuditWriter {
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly db: Database) {}

  /** Append one event; rejects if its transaction fails, and the caller must then fail closed. */
  record(input: AuditInput): Promise<AuditEvent> {
    if (this.closed) return Promise.reject(new Error('audit writer is closed'));
    let payloadText: string;
    try {
      // serialized once, here: a payload that cannot be stored (BigInt, cycle) is refused alone rather than failing its whole batch
      payloadText = JSON.stringify(input.payload ?? {});
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ input, payloadText, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  /** Stop accepting events and wait until every queued one is committed or rejected. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flushing;
  }

  private async flush(): Promise<void> {
    // Yield to the event loop (not just the microtask queue: PGlite answers in microtasks)
    // so events arriving on other connections meanwhile share the first append.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      try {
        // one statement, committed on return: no explicit transaction needed
        const events = await appendAuditNow(
          this.db,
          batch.map((p) => p.input),
          batch.map((p) => p.payloadText),
        );
        for (const [i, p] of batch.entries()) p.resolve(events[i]);
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
    this.flushing = null;
  }
}
