import { asc, gt } from 'drizzle-orm';
import type { Executor } from '../../db/database';
import { auditEvents } from '../../db/schema';
import type { AuditEvent } from './append';

export const DEFAULT_PAGE_SIZE = 1000;

/**
 * Every audit event in chain order, read a page at a time (keyset pagination on seq)
 * so a log of millions of rows never sits in memory at once. Every row, from the lowest seq:
 * a row slipped in below the chain's first (seq 0 or less) is read too, and fails verification.
 */
export async function* readAuditInOrder(db: Executor, pageSize = DEFAULT_PAGE_SIZE): AsyncGenerator<AuditEvent> {
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize must be a positive integer, got ${pageSize}`);
  let afterSeq: number | null = null;
  for (;;) {
    const page = await db
      .select()
      .from(auditEvents)
      .where(afterSeq === null ? undefined : gt(auditEvents.seq, afterSeq))
      .orderBy(asc(auditEvents.seq))
      .limit(pageSize);
    yield* page;
    if (page.length < pageSize) return;
    afterSeq = page[page.length - 1].seq;
  }
}
