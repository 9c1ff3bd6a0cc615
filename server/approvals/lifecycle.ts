import { randomUUID } from 'node:crypto';
import { and, eq, inArray, isNull, lte, type SQL, type SQLWrapper, sql } from 'drizzle-orm';
import type { Database, Executor } from '../../db/database';
import { agents, approvalRequests, users } from '../../db/schema';
import { type AppendNotify, type AuditActor, type AuditInput, appendAudit, appendAuditIfChanged } from '../audit/append';
import { digest } from '../lib/digest';
import { AirlockError } from '../lib/errors';
import { assessRisk, type ToolAnnotations } from '../lib/inspect';
import type { Verdict } from '../policy/types';
import { APPROVALS_CHANNEL, type ApprovalRequest, type Outcome } from './types';

export async function notifyChange(tx: Executor, id: string, status: string): Promise<void> {
  const { channel, payload } = approvalNotice(id, status);
  await tx.execute(sql`select pg_notify(${channel}, ${payload})`);
}

/**
 * Now by the database's clock, which every instance shares, to the millisecond (as a JavaScript
 * Date holds it, so a time read back and sent again as a cursor compares equal).
 */
export const dbNow = sql`date_trunc('milliseconds', now())`;

/**
 * A request is past its deadline by the database's clock, which every instance shares: a process
 * whose clock runs ahead expires nothing early and refuses no decision as late.
 */
export const overdue = lte(approvalRequests.expiresAt, sql`now()`);

/** The same notification, sent by the statement that appends the change's audit rows. */
export function approvalNotice(id: string, status: string): AppendNotify {
  return { channel: APPROVALS_CHANNEL, payload: JSON.stringify({ id, status }) };
}

export type CreateRequestOptions = {
  agentId: string;
  sessionId: string;
  rpcId: string | number;
  /** Airlock's id of the tools/call, in each of its audit events. */
  callId?: string;
  upstream: string;
  tool: string;
  arguments: unknown;
  toolDefinition: unknown;
  verdict: Verdict;
  holder: string;
};

/** Persist a held call as a pending approval request, audited in the same transaction. */
export async function createRequest(database: Database, options: CreateRequestOptions): Promise<ApprovalRequest> {
  const definition = (options.toolDefinition ?? {}) as { description?: string; annotations?: ToolAnnotations };
  const risk = assessRisk({ annotations: definition.annotations, description: definition.description, arguments: options.arguments ?? {} });
  const row = {
    id: randomUUID(),
    status: 'pending' as const,
    agentId: options.agentId,
    sessionId: options.sessionId,
    // an agent's string id may hold U+0000, which PostgreSQL does not store: kept as U+FFFD
    rpcId: String(options.rpcId).replaceAll('\u0000', '\uFFFD'),
    upstream: options.upstream,
    tool: options.tool,
    arguments: options.arguments ?? {},
    argumentsDigest: digest(options.arguments ?? {}),
    toolDefinition: options.toolDefinition,
    toolDefinitionHash: digest(options.toolDefinition),
    rule: {
      id: options.verdict.ruleId,
      reason: options.verdict.reason,
      timeoutSeconds: options.verdict.timeoutSeconds,
      allowEdit: options.verdict.allowEdit,
      maxGrantMinutes: options.verdict.maxGrantMinutes,
    },
    approverRoles: [...options.verdict.approvers],
    requiredApprovals: options.verdict.quorum,
    riskLevel: risk.level,
    riskFlags: risk.flags,
    // the database's clock, not this process's: every instance then agrees when a request expires
    createdAt: dbNow,
    expiresAt: sql`${dbNow} + make_interval(secs => ${options.verdict.timeoutSeconds})`,
    holder: options.holder,
  };
  return database.orm.transaction(async (tx) => {
    const [created] = await tx.insert(approvalRequests).values(row).returning();
    await appendAudit(
      tx,
      {
        type: 'approval.requested',
        actor: { type: 'agent', id: options.agentId },
        requestId: row.id,
        sessionId: row.sessionId,
        payload: {
          sessionId: row.sessionId,
          callId: options.callId,
          upstream: row.upstream,
          tool: row.tool,
          argumentsDigest: row.argumentsDigest,
          toolDefinitionHash: row.toolDefinitionHash,
          rule: row.rule,
          quorum: row.requiredApprovals,
          risk,
          expiresAt: created.expiresAt.toISOString(),
        },
      },
      approvalNotice(row.id, 'pending'),
    );
    return created;
  });
}

/**
 * Move a pending request to a terminal status nobody decided (expired, cancelled). A
 * conditional update: if someone decided first, nothing changes and false is returned.
 */
export async function closeRequest(
  database: Database,
  { id, status, reason, actor }: { id: string; status: 'expired' | 'cancelled'; reason: string; actor: AuditActor },
): Promise<boolean> {
  const close = database.orm
    .update(approvalRequests)
    .set({ status, reason, decidedAt: dbNow })
    .where(and(eq(approvalRequests.id, id), eq(approvalRequests.status, 'pending'), status === 'expired' ? overdue : undefined))
    .returning({ id: approvalRequests.id });
  // one statement: the status, its audit row and the notification commit together, or nothing does
  const events = await appendAuditIfChanged(
    database.orm,
    close,
    [{ type: `approval.${status}`, actor, requestId: id, payload: { reason } }],
    approvalNotice(id, status),
  );
  return events !== null;
}

/**
 * Cancel every pending request of an agent (revoked, or its owner disabled) in the caller's
 * transaction, so its held calls end without running, and return the audit events for the
 * caller to append after its last row change. Row locks come before the audit chain's lock,
 * the order decide() takes them in: the other order deadlocks.
 */
export async function cancelAgentRequests(
  tx: Executor,
  { agentId, reason, actor }: { agentId: string; reason: string; actor: AuditActor },
): Promise<AuditInput[]> {
  const ids = await cancelRows(tx, eq(approvalRequests.agentId, agentId), reason);
  return ids.map((id) => cancelledEvent(id, reason, actor));
}

/**
 * Cancel every pending request held by the given processes (a subquery of holder ids, read
 * by the same statement), each audited, inside the caller's transaction.
 */
export async function cancelHeldBy(
  tx: Executor,
  holders: SQLWrapper,
  { reason, actor }: { reason: string; actor: AuditActor },
): Promise<string[]> {
  const ids = await cancelRows(tx, inArray(approvalRequests.holder, holders), reason);
  if (ids.length > 0)
    await appendAudit(
      tx,
      ids.map((id) => cancelledEvent(id, reason, actor)),
    );
  return ids;
}

const cancelledEvent = (requestId: string, reason: string, actor: AuditActor): AuditInput => ({
  type: 'approval.cancelled',
  actor,
  requestId,
  payload: { reason },
});

/** Cancel the pending requests `which` selects; each is announced at commit. */
async function cancelRows(tx: Executor, which: SQL, reason: string): Promise<string[]> {
  const cancelled = await tx
    .update(approvalRequests)
    .set({ status: 'cancelled', reason, decidedAt: dbNow })
    .where(and(which, eq(approvalRequests.status, 'pending')))
    .returning({ id: approvalRequests.id });
  for (const { id } of cancelled) await notifyChange(tx, id, 'cancelled');
  return cancelled.map(({ id }) => id);
}

/** Expire every pending request past its deadline (any process may sweep; the update is conditional). */
export async function expireOverdue(database: Database): Promise<string[]> {
  const due = await database.orm
    .select({ id: approvalRequests.id })
    .from(approvalRequests)
    .where(and(eq(approvalRequests.status, 'pending'), overdue))
    .limit(500);
  const expired: string[] = [];
  for (const { id } of due) {
    if (await closeRequest(database, { id, status: 'expired', reason: 'no decision before the deadline', actor: { type: 'system' } }))
      expired.push(id);
  }
  return expired;
}

/**
 * invariant 3: claim the right to execute an approved request, at most once. Returns false
 * when it is not approved or was already executed; the audit row commits with the claim.
 */
export async function claimExecution(
  database: Database,
  { id, argumentsDigest, agentId, callId }: { id: string; argumentsDigest: string; agentId: string; callId?: string },
): Promise<boolean> {
  // a revoked agent, or one whose owner was disabled meanwhile, runs nothing more
  const claim = database.orm
    .update(approvalRequests)
    .set({ executedAt: dbNow })
    .where(
      and(
        eq(approvalRequests.id, id),
        eq(approvalRequests.status, 'approved'),
        isNull(approvalRequests.executedAt),
        sql`exists (select 1 from ${agents} join ${users} on ${users.id} = ${agents.ownerId}
                    where ${agents.id} = ${approvalRequests.agentId} and ${agents.revokedAt} is null and not ${users.disabled})`,
      ),
    )
    .returning({ id: approvalRequests.id });
  // the claim and its audit row commit together, before the call is forwarded (invariants 3 and 5)
  const events = await appendAuditIfChanged(database.orm, claim, [
    { type: 'tool.forwarded', actor: { type: 'agent', id: agentId }, requestId: id, payload: { callId, argumentsDigest } },
  ]);
  return events !== null;
}

/** Terminal outcomes of the given requests (pending ones are omitted). */
export async function loadOutcomes(db: Executor, ids: string[]): Promise<Outcome[]> {
  if (ids.length === 0) return [];
  return db
    .select({
      id: approvalRequests.id,
      status: approvalRequests.status,
      reason: approvalRequests.reason,
      decidedBy: approvalRequests.decidedBy,
      approvedArguments: approvalRequests.approvedArguments,
      approvedArgumentsDigest: approvalRequests.approvedArgumentsDigest,
      argumentsDigest: approvalRequests.argumentsDigest,
    })
    .from(approvalRequests)
    .where(and(inArray(approvalRequests.id, ids), sql`${approvalRequests.status} <> 'pending'`));
}

export async function getRequest(db: Executor, id: string): Promise<ApprovalRequest> {
  const [row] = await db.select().from(approvalRequests).where(eq(approvalRequests.id, id));
  if (!row) throw new AirlockError('not_found', `approval request ${id} not found`);
  return row;
}
