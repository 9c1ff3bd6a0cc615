import { randomUUID } from 'node:crypto';
import { type SQLWrapper, sql } from 'drizzle-orm';
import { type Database, type Executor, query } from '../../db/database';
import type { auditEvents } from '../../db/schema';
import { sha256 } from '../lib/digest';

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

export const GENESIS_HASH = '0'.repeat(64);

type Content = Pick<AuditEvent, 'id' | 'at' | 'type' | 'actorType' | 'actorId' | 'requestId' | 'sessionId'>;

/**
 * SHA-256 of an event's content: its fields and its payload exactly as stored (the JSON
 * text). Stable for a row read back, since JSON.stringify(JSON.parse(text)) === text for
 * any text JSON.stringify produced.
 */
export function contentDigest(row: Content, payloadText: string): string {
  return sha256(
    JSON.stringify([
      row.id,
      row.at.toISOString(),
      row.type,
      row.actorType,
      row.actorId ?? null,
      row.requestId ?? null,
      row.sessionId ?? null,
      payloadText,
    ]),
  );
}

/** A row's hash: its position, the previous row's hash and its content (the same formula as the SQL function). */
export function chainHash(seq: number, prevHash: string, digest: string): string {
  return sha256(`${seq}:${prevHash}:${digest}`);
}

/** The hash a stored row must carry. */
export function auditHash(row: Omit<AuditEvent, 'hash'>): string {
  return chainHash(row.seq, row.prevHash, contentDigest(row, JSON.stringify(row.payload ?? null)));
}

const APPEND_COLUMNS = 'first_seq, prev_hash, hashes';
const APPEND_CALL = `select ${APPEND_COLUMNS} from airlock_audit_append_batch`;
/** The same for a single event (`airlock_audit_append_one`, same chain, same answer). */
const APPEND_ONE_CALL = `select ${APPEND_COLUMNS} from airlock_audit_append_one($1, $2::timestamptz, $3, $4, $5, $6, $7, $8, $9)`;
/** What `airlock_audit_append_batch` answers: event i got seq `first_seq + i` and hash `hashes[i]`. */
type AppendRow = { first_seq: number | string; prev_hash: string; hashes: string[] };

/**
 * The rows of events to append: each with a new id, the same time, and its payload as the
 * JSON text stored (given when the caller serialized it already). The objects here and in
 * `assemble` are written out rather than spread from one another: on Node 20 an object spread
 * (`{ ...content, digest }`) per event made what it references outlive V8's young generation.
 * With the two spreads of the old code, 1.4 MB per scavenge of 12 MB was promoted to the old
 * generation in a loop of appends against a database that answers at once, against 47 KB
 * written out (Node 22 promotes nothing in either case).
 */
function prepare(inputs: AuditInput[], payloadTexts?: string[]) {
  const at = new Date();
  const atText = at.toISOString();
  const prepared = inputs.map((input, i) => {
    const payloadText = payloadTexts?.[i] ?? JSON.stringify(input.payload ?? {});
    const content: Content = {
      id: randomUUID(),
      at,
      type: input.type,
      actorType: input.actor.type,
      actorId: input.actor.id ?? null,
      requestId: input.requestId ?? null,
      sessionId: input.sessionId ?? null,
    };
    return { content, payloadText, payload: (input.payload ?? {}) as unknown };
  });
  const events = prepared.map(({ content, payloadText }) => ({
    id: content.id,
    at: atText,
    type: content.type,
    actorType: content.actorType,
    actorId: content.actorId,
    requestId: content.requestId,
    sessionId: content.sessionId,
    payload: payloadText,
    digest: contentDigest(content, payloadText),
  }));
  return { prepared, events, json: () => JSON.stringify(events) };
}

function assemble(prepared: ReturnType<typeof prepare>['prepared'], rows: AppendRow[]): AuditEvent[] {
  const [row] = rows;
  if (row?.hashes.length !== prepared.length) throw new Error(`audit append wrote ${row?.hashes.length ?? 0} of ${prepared.length} events`);
  const first = Number(row.first_seq);
  return prepared.map(({ content, payload }, i) => ({
    seq: first + i,
    id: content.id,
    at: content.at,
    type: content.type,
    actorType: content.actorType,
    actorId: content.actorId,
    requestId: content.requestId,
    sessionId: content.sessionId,
    payload,
    prevHash: i === 0 ? row.prev_hash : row.hashes[i - 1],
    hash: row.hashes[i],
  }));
}

/** A NOTIFY sent by the same statement as the append (delivered, like any NOTIFY, at commit). */
export type AppendNotify = { channel: string; payload: string };

const notifyColumn = (notify: AppendNotify | undefined) => (notify ? sql`, pg_notify(${notify.channel}, ${notify.payload})` : sql``);

/**
 * Append events to the hash chain in one round trip (the `airlock_audit_append_batch` function
 * takes the advisory lock, reads the head and inserts). Inside a transaction the lock is
 * held until commit, so the chain order is the commit order (invariant 5).
 */
export async function appendAudit(tx: Executor, inputs: AuditInput | AuditInput[], notify?: AppendNotify): Promise<AuditEvent[]> {
  const list = Array.isArray(inputs) ? inputs : [inputs];
  if (list.length === 0) return [];
  const { prepared, json } = prepare(list);
  return assemble(
    prepared,
    await query<AppendRow>(
      tx,
      sql`select ${sql.raw(APPEND_COLUMNS)}${notifyColumn(notify)} from airlock_audit_append_batch(${json()}::jsonb)`,
    ),
  );
}

/**
 * Run a data-modifying statement (with RETURNING) and, only if it returned a row, append
 * events, in one statement: both commit or neither does, in one round trip instead of a
 * transaction's four. Resolves to the events appended, or null when nothing changed.
 */
export async function appendAuditIfChanged(
  db: Executor,
  change: SQLWrapper,
  inputs: AuditInput[],
  notify?: AppendNotify,
): Promise<AuditEvent[] | null> {
  const { prepared, json } = prepare(inputs);
  // drizzle parenthesizes an embedded query, as the CTE needs. The append is LATERAL to the
  // change's first row and takes its argument through it, so PostgreSQL cannot run it (and
  // write the events) when the change returned nothing
  const rows = await query<AppendRow>(
    db,
    sql`with changed as ${change} select ${sql.raw(APPEND_COLUMNS)}${notifyColumn(notify)}
        from (select 1 as one from changed limit 1) c,
        lateral airlock_audit_append_batch(case when c.one = 1 then ${json()}::jsonb end) a`,
  );
  return rows.length === 0 ? null : assemble(prepared, rows);
}

/**
 * The same, outside any transaction, straight through the driver: the statement commits
 * when it returns. The gateway's per-call path (AuditWriter) uses it.
 */
export async function appendAuditNow(database: Database, inputs: AuditInput[], payloadTexts?: string[]): Promise<AuditEvent[]> {
  if (inputs.length === 0) return [];
  const { prepared, events, json } = prepare(inputs, payloadTexts);
  if (events.length > 1) return assemble(prepared, await database.raw<AppendRow>(`${APPEND_CALL}($1::jsonb)`, [json()]));
  // one event, the commonest case: its fields as parameters, not a document to parse
  const [e] = events;
  return assemble(
    prepared,
    await database.raw<AppendRow>(APPEND_ONE_CALL, [
      e.id,
      e.at,
      e.type,
      e.actorType,
      e.actorId,
      e.requestId,
      e.sessionId,
      e.payload,
      e.digest,
    ]),
  );
}
