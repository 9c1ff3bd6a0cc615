import { randomUUID } from 'node:crypto';
import { desc, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client';
import { auditEvents } from '../../db/schema';
import { canonicalJson, sha256 } from '../lib/digest';

export type AuditActor = { type: 'user' | 'agent' | 'system'; id?: string | null };

export type AuditInput = {
  /** Dotted event name, e.g. `tool.allowed`, `approval.decided`, `auth.sign_in_failed`. */
  type: string;
  actor: AuditActor;
  requestId?: string | null;
  /** The MCP session of a tool call event (kept in its own indexed column). */
  sessionId?: string | null;
  payload: Record<string, unknown>;
};

export type AuditEvent = typeof auditEvents.$inferSelect;

/** Serializes appends across every process sharing the database (the chain needs one order). */
export const AUDIT_LOCK = 0x61756474; // "audt"
export const GENESIS_HASH = '0'.repeat(64);

/** The hashed content of a row: everything but the hash itself. */
export function auditContent(row: Omit<AuditEvent, 'hash'>): string {
  return canonicalJson({
    seq: row.seq,
    id: row.id,
    at: row.at.toISOString(),
    type: row.type,
    actorType: row.actorType,
    actorId: row.actorId ?? null,
    requestId: row.requestId ?? null,
    // absent (not null) when there is none, so rows without a session hash as they always did
    sessionId: row.sessionId ?? undefined,
    payload: row.payload,
    prevHash: row.prevHash,
  });
}

export function auditHash(row: Omit<AuditEvent, 'hash'>): string {
  return sha256(auditContent(row));
}

/**
 * Append events to the hash chain. Must run inside a transaction: the advisory lock is
 * held until commit, so the chain order is the commit order (invariant 5).
 */
export async function appendAudit(tx: Executor, inputs: AuditInput | AuditInput[]): Promise<AuditEvent[]> {
  const list = Array.isArray(inputs) ? inputs : [inputs];
  if (list.length === 0) return [];
  await tx.execute(sql`select pg_advisory_xact_lock(${AUDIT_LOCK})`);
  const [last] = await tx
    .select({ seq: auditEvents.seq, hash: auditEvents.hash })
    .from(auditEvents)
    .orderBy(desc(auditEvents.seq))
    .limit(1);
  let seq = last?.seq ?? 0;
  let prevHash = last?.hash ?? GENESIS_HASH;
  const at = new Date();
  const rows: AuditEvent[] = list.map((input) => {
    seq += 1;
    const base = {
      seq,
      id: randomUUID(),
      at,
      type: input.type,
      actorType: input.actor.type,
      actorId: input.actor.id ?? null,
      requestId: input.requestId ?? null,
      sessionId: input.sessionId ?? null,
      // normalise through JSON so the hash covers exactly what is stored and read back
      payload: JSON.parse(JSON.stringify(input.payload)) as unknown,
      prevHash,
    };
    const row = { ...base, hash: auditHash(base) };
    prevHash = row.hash;
    return row;
  });
  await tx.insert(auditEvents).values(rows);
  return rows;
}
