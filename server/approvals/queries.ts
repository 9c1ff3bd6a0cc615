import { and, asc, desc, eq, lt } from 'drizzle-orm';
import { z } from 'zod';
import type { Executor } from '../../db/client';
import { agents, approvalRequests, approvalStatuses, approvalVotes, users } from '../../db/schema';
import { AirlockError } from '../lib/errors';

export const ZListQuery = z
  .object({
    status: z.enum(approvalStatuses).optional(),
    upstream: z.string().max(100).optional(),
    tool: z.string().max(200).optional(),
    agent: z.string().max(200).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    /** Keyset cursor: the `createdAt` ISO time of the last item of the previous page. */
    before: z.iso.datetime({ offset: true }).optional(),
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

/** Approval requests, newest first (pending ones oldest first: the queue order). */
export async function listRequests(db: Executor, query: ListQuery) {
  const filters = [
    query.status && eq(approvalRequests.status, query.status),
    query.upstream && eq(approvalRequests.upstream, query.upstream),
    query.tool && eq(approvalRequests.tool, query.tool),
    query.agent && eq(agents.name, query.agent),
    query.before && lt(approvalRequests.createdAt, new Date(query.before)),
  ].filter((f) => !!f);
  const items = await db
    .select(listColumns)
    .from(approvalRequests)
    .innerJoin(agents, eq(agents.id, approvalRequests.agentId))
    .where(and(...filters))
    .orderBy(query.status === 'pending' ? asc(approvalRequests.createdAt) : desc(approvalRequests.createdAt))
    .limit(query.limit);
  return { items };
}

/** One request with what a reviewer needs: the agent and owner, votes, and the session's earlier calls. */
export async function getRequestDetail(db: Executor, id: string) {
  const [row] = await db
    .select({ ...listColumns, toolDefinition: approvalRequests.toolDefinition, toolDefinitionHash: approvalRequests.toolDefinitionHash, decidedBy: approvalRequests.decidedBy, approvedArgumentsDigest: approvalRequests.approvedArgumentsDigest, ownerEmail: users.email })
    .from(approvalRequests)
    .innerJoin(agents, eq(agents.id, approvalRequests.agentId))
    .innerJoin(users, eq(users.id, agents.ownerId))
    .where(eq(approvalRequests.id, id));
  if (!row) throw new AirlockError('not_found', `approval request ${id} not found`);
  const votes = await db
    .select({ userId: approvalVotes.userId, email: users.email, decision: approvalVotes.decision, reason: approvalVotes.reason, createdAt: approvalVotes.createdAt })
    .from(approvalVotes)
    .innerJoin(users, eq(users.id, approvalVotes.userId))
    .where(eq(approvalVotes.requestId, id))
    .orderBy(asc(approvalVotes.createdAt));
  const session = await db
    .select({ id: approvalRequests.id, tool: approvalRequests.tool, status: approvalRequests.status, createdAt: approvalRequests.createdAt })
    .from(approvalRequests)
    .where(and(eq(approvalRequests.sessionId, row.sessionId), lt(approvalRequests.createdAt, row.createdAt)))
    .orderBy(desc(approvalRequests.createdAt))
    .limit(50);
  const { ownerEmail, ...request } = row;
  return { ...request, agent: { ...row.agent, ownerEmail }, votes, approvals: votes.filter((v) => v.decision === 'approve').length, session };
}

