import { and, asc, desc, eq, inArray, lte, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Executor } from '../../db/database';
import { agents, approvalRequests, approvalStatuses, approvalVotes, auditEvents, users } from '../../db/schema';
import { AirlockError } from '../lib/errors';
import { countedApprovals } from './quorum';

export const ZListQuery = z
  .object({
    status: z.enum(approvalStatuses).optional(),
    upstream: z.string().max(100).optional(),
    tool: z.string().max(200).optional(),
    agent: z.string().max(200).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    /** The `nextCursor` of the previous page. */
    cursor: z.string().max(200).optional(),
  })
  .strict();
export type ListQuery = z.infer<typeof ZListQuery>;

const listColumns = {
  id: approvalRequests.id,
  status: approvalRequests.status,
  upstream: approvalRequests.upstream,
  tool: approvalRequests.tool,
  arguments: approvalRequests.arguments,
  argumentsDigest: approvalRequests.argumentsDigest,
  rule: approvalRequests.rule,
  requiredApprovals: approvalRequests.requiredApprovals,
  approverRoles: approvalRequests.approverRoles,
  sessionId: approvalRequests.sessionId,
  createdAt: approvalRequests.createdAt,
  expiresAt: approvalRequests.expiresAt,
  decidedAt: approvalRequests.decidedAt,
  reason: approvalRequests.reason,
  agent: { id: agents.id, name: agents.name, ownerId: agents.ownerId },
};

/** Keyset cursors are `<createdAt ISO>|<id>`: createdAt alone is not unique. */
function parseCursor(cursor: string): { at: Date; id: string } {
  const [iso, id] = cursor.split('|');
  const at = new Date(iso ?? '');
  if (!id || Number.isNaN(at.getTime())) throw new AirlockError('bad_request', 'invalid cursor: pass the nextCursor of the previous page');
  return { at, id };
}

/**
 * Approval requests, newest first (pending ones oldest first: the queue order), a page at
 * a time: pass `nextCursor` back as `cursor` for the next page.
 */
export async function listRequests(db: Executor, query: ListQuery) {
  const ascending = query.status === 'pending';
  const after = query.cursor ? parseCursor(query.cursor) : null;
  const filters = [
    query.status && eq(approvalRequests.status, query.status),
    query.upstream && eq(approvalRequests.upstream, query.upstream),
    query.tool && eq(approvalRequests.tool, query.tool),
    query.agent && eq(agents.name, query.agent),
    after &&
      (ascending
        ? sql`(${approvalRequests.createdAt}, ${approvalRequests.id}) > (${after.at.toISOString()}::timestamptz, ${after.id})`
        : sql`(${approvalRequests.createdAt}, ${approvalRequests.id}) < (${after.at.toISOString()}::timestamptz, ${after.id})`),
  ].filter((f) => !!f);
  const rows = await db
    .select(listColumns)
    .from(approvalRequests)
    .innerJoin(agents, eq(agents.id, approvalRequests.agentId))
    .where(and(...filters))
    .orderBy(
      ...(ascending
        ? [asc(approvalRequests.createdAt), asc(approvalRequests.id)]
        : [desc(approvalRequests.createdAt), desc(approvalRequests.id)]),
    )
    .limit(query.limit + 1);
  const items = rows.slice(0, query.limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > query.limit && last ? `${last.createdAt.toISOString()}|${last.id}` : null };
}

/** One request with what a reviewer needs: the agent and owner, votes, and the session's earlier calls. */
export async function getRequestDetail(db: Executor, id: string) {
  const [row] = await db
    .select({
      ...listColumns,
      toolDefinition: approvalRequests.toolDefinition,
      toolDefinitionHash: approvalRequests.toolDefinitionHash,
      riskLevel: approvalRequests.riskLevel,
      riskFlags: approvalRequests.riskFlags,
      decidedBy: approvalRequests.decidedBy,
      approvedArguments: approvalRequests.approvedArguments,
      approvedArgumentsDigest: approvalRequests.approvedArgumentsDigest,
      executedAt: approvalRequests.executedAt,
      ownerEmail: users.email,
      approvals: countedApprovals,
    })
    .from(approvalRequests)
    .innerJoin(agents, eq(agents.id, approvalRequests.agentId))
    .innerJoin(users, eq(users.id, agents.ownerId))
    .where(eq(approvalRequests.id, id));
  if (!row) throw new AirlockError('not_found', `approval request ${id} not found`);
  const votes = await db
    .select({
      userId: approvalVotes.userId,
      email: users.email,
      decision: approvalVotes.decision,
      reason: approvalVotes.reason,
      createdAt: approvalVotes.createdAt,
    })
    .from(approvalVotes)
    .innerJoin(users, eq(users.id, approvalVotes.userId))
    .where(eq(approvalVotes.requestId, id))
    .orderBy(asc(approvalVotes.createdAt));
  const session = await sessionTimeline(db, { sessionId: row.sessionId, until: row.createdAt, excludeRequestId: id });
  const [end] = await db
    .select({ type: auditEvents.type, payload: auditEvents.payload })
    .from(auditEvents)
    .where(and(eq(auditEvents.requestId, id), inArray(auditEvents.type, EXECUTION_END_TYPES)))
    .orderBy(desc(auditEvents.seq))
    .limit(1);
  const { ownerEmail, ...request } = row;
  const decidedByEmail = row.decidedBy ? (votes.find((v) => v.userId === row.decidedBy)?.email ?? null) : null;
  return {
    ...request,
    decidedByEmail,
    agent: { ...row.agent, ownerEmail },
    votes,
    session,
    execution: row.status === 'approved' ? describeExecution(row.executedAt, end) : null,
  };
}

/** The audit events that end an approved call's execution, one per call. */
const EXECUTION_END_TYPES = ['tool.result', 'tool.interrupted', 'tool.cancelled', 'tool.binding_refused', 'tool.drift_refused'];

export type Execution = {
  /** `ran`: the upstream answered; `sent`: it has the call, no answer recorded (yet); `not_run`: it never got it. */
  state: 'ran' | 'sent' | 'not_run';
  text: string;
};

/** What became of an approved call, from its claim and the audit event that ended it. */
export function describeExecution(executedAt: Date | null, end: { type: string; payload: unknown } | undefined): Execution {
  const payload = (end?.payload ?? {}) as {
    ok?: boolean;
    isError?: boolean;
    cancelled?: boolean;
    abandoned?: boolean;
    reason?: string | null;
    approvalUsed?: boolean;
  };
  const because = payload.reason ? `: ${payload.reason}` : '';
  switch (end?.type) {
    case 'tool.result': {
      const answer = !payload.ok
        ? 'the upstream answered with an error'
        : payload.isError
          ? 'the tool reported an error'
          : 'the upstream answered';
      const unrelayed = payload.cancelled || payload.abandoned ? '; the agent had given up on it, so the result was not relayed' : '';
      return { state: 'ran', text: `yes, once: ${answer}${unrelayed}` };
    }
    case 'tool.interrupted':
      return { state: 'sent', text: `sent once, and no answer came back${because}` };
    case 'tool.cancelled':
      return {
        state: 'not_run',
        text: payload.approvalUsed
          ? 'no: the agent cancelled it as it was being sent; the approval is used up'
          : `no: cancelled before it was sent${because}`,
      };
    case 'tool.binding_refused':
    case 'tool.drift_refused':
      return { state: 'not_run', text: `no: refused when it was to run${because}` };
    default:
      return executedAt
        ? { state: 'sent', text: 'sent once; its answer is not recorded yet' }
        : { state: 'not_run', text: 'not (yet): the agent may have gone, or the binding check refused it' };
  }
}

export type RequestDetail = Awaited<ReturnType<typeof getRequestDetail>>;

const TIMELINE_TYPES = ['tool.allowed', 'tool.denied', 'tool.unknown', 'tool.refused', 'approval.requested'];

export type TimelineEntry = { seq: number; at: Date; tool: string; outcome: string; requestId: string | null };

/**
 * The calls an MCP session made before a request, newest first, with their outcomes:
 * allowed and denied calls come from the audit log, held ones with their request's status.
 */
export async function sessionTimeline(
  db: Executor,
  { sessionId, until, excludeRequestId, limit = 50 }: { sessionId: string; until: Date; excludeRequestId?: string; limit?: number },
): Promise<TimelineEntry[]> {
  const rows = await db
    .select({
      seq: auditEvents.seq,
      at: auditEvents.at,
      type: auditEvents.type,
      payload: auditEvents.payload,
      requestId: auditEvents.requestId,
      status: approvalRequests.status,
    })
    .from(auditEvents)
    .leftJoin(approvalRequests, eq(approvalRequests.id, auditEvents.requestId))
    .where(and(eq(auditEvents.sessionId, sessionId), inArray(auditEvents.type, TIMELINE_TYPES), lte(auditEvents.at, until)))
    .orderBy(desc(auditEvents.seq))
    .limit(limit + 1);
  return rows
    .filter((r) => r.requestId !== excludeRequestId || r.type !== 'approval.requested')
    .slice(0, limit)
    .map((r) => {
      const payload = (r.payload ?? {}) as { tool?: string; rule?: string; grantId?: string };
      const outcome =
        r.type === 'approval.requested'
          ? `held → ${r.status ?? 'unknown'}`
          : r.type === 'tool.allowed'
            ? payload.grantId
              ? 'allowed by a session grant'
              : `allowed (${payload.rule ?? 'rule'})`
            : r.type === 'tool.denied'
              ? `denied by policy (${payload.rule ?? 'rule'})`
              : r.type === 'tool.unknown'
                ? 'unknown tool'
                : 'refused';
      return { seq: r.seq, at: r.at, tool: payload.tool ?? '?', outcome, requestId: r.requestId };
    });
}
