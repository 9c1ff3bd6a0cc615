import { and, desc, eq, like, lt, type SQL } from 'drizzle-orm';
import type { Executor } from '../../db/database';
import { auditEvents } from '../../db/schema';
import type { AuditEvent } from './append';
import { readAuditInOrder } from './read';

export type SearchAuditOptions = {
  /** An exact type (`tool.allowed`) or a prefix ending in `.*` (`approval.*`). */
  type?: string;
  requestId?: string;
  actorId?: string;
  /** The `nextCursor` of the previous page. */
  after?: number;
  /** Page size, 1 to 500 (default 100). */
  limit?: number;
};

export type SearchAuditResult = { events: AuditEvent[]; nextCursor: number | null };

/** Audit events matching every given filter, newest first, a page at a time. */
export async function searchAudit(db: Executor, options: SearchAuditOptions = {}): Promise<SearchAuditResult> {
  const limit = Math.min(Math.max(Math.trunc(options.limit ?? 100), 1), 500);
  const filters: (SQL | undefined)[] = [
    options.type === undefined ? undefined : typeFilter(options.type),
    options.requestId === undefined ? undefined : eq(auditEvents.requestId, options.requestId),
    options.actorId === undefined ? undefined : eq(auditEvents.actorId, options.actorId),
    options.after === undefined ? undefined : lt(auditEvents.seq, options.after),
  ];
  // one extra row tells whether another page exists
  const rows = await db
    .select()
    .from(auditEvents)
    .where(and(...filters))
    .orderBy(desc(auditEvents.seq))
    .limit(limit + 1);
  const events = rows.slice(0, limit);
  return { events, nextCursor: rows.length > limit ? events[events.length - 1].seq : null };
}

function typeFilter(type: string): SQL {
  if (!type.endsWith('.*')) return eq(auditEvents.type, type);
  // event names contain `_` (auth.sign_in_failed): escape LIKE's wildcards in the prefix
  const prefix = type.slice(0, -1).replace(/[\\%_]/g, '\\$&');
  return like(auditEvents.type, `${prefix}%`);
}

export type ExportAuditOptions = { format: 'jsonl' };

/**
 * The whole audit log in chain order, one JSON line (newline included) per event with
 * its `prevHash` and `hash`, so the file can be checked offline with `verifyAuditExport`.
 */
export async function* exportAudit(db: Executor, options: ExportAuditOptions = { format: 'jsonl' }): AsyncGenerator<string> {
  if (options.format !== 'jsonl') throw new Error(`unsupported audit export format: ${options.format}`);
  for await (const event of readAuditInOrder(db)) yield `${JSON.stringify(event)}\n`;
}
