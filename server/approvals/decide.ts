import { and, count, eq } from 'drizzle-orm';
import type { Database } from '../../db/client';
import { agents, approvalRequests, approvalVotes, users } from '../../db/schema';
import { appendAudit } from '../audit/append';
import { AirlockError } from '../lib/errors';
import { notifyChange } from './lifecycle';
import type { ApprovalRequest, DecisionInput, Reviewer } from './types';

export type DecideOptions = DecisionInput & { requestId: string; user: Reviewer };

export type DecideResult = { request: ApprovalRequest; approvals: number; final: boolean };

/**
 * Record one person's vote on a pending request and, when it settles the request (a deny,
 * or the quorum of distinct approvers), its final status. The request row is locked for
 * the transaction, so concurrent decisions serialize and exactly one outcome wins (invariant 3).
 * The reviewer's role and status are read here, not from the session (invariant 4).
 */
export async function decide(database: Database, { requestId, user, decision, reason }: DecideOptions): Promise<DecideResult> {
  return database.orm.transaction(async (tx) => {
    const [reviewer] = await tx.select().from(users).where(eq(users.id, user.id));
    if (!reviewer || reviewer.disabled) throw new AirlockError('forbidden', 'your account is disabled');

    const [request] = await tx
      .select()
      .from(approvalRequests)
      .where(eq(approvalRequests.id, requestId))
      .for('update');
    if (!request) throw new AirlockError('not_found', `approval request ${requestId} not found`);
    if (request.status !== 'pending') throw new AirlockError('conflict', `this request is already ${request.status}`);
    if (request.expiresAt.getTime() <= Date.now()) throw new AirlockError('conflict', 'this request has expired');

    if (reviewer.role === 'auditor') throw new AirlockError('forbidden', 'auditors cannot decide approval requests');
    if (reviewer.role !== 'admin' && !request.approverRoles.includes(reviewer.role))
      throw new AirlockError('forbidden', `only ${request.approverRoles.join(' or ')} reviewers may decide this request`);
    if (decision === 'approve') {
      const [agent] = await tx.select({ ownerId: agents.ownerId }).from(agents).where(eq(agents.id, request.agentId));
      if (agent?.ownerId === reviewer.id) throw new AirlockError('forbidden', "you own this agent, so you cannot approve its calls");
    }

    const inserted = await tx
      .insert(approvalVotes)
      .values({ requestId, userId: reviewer.id, decision, reason: reason || null })
      .onConflictDoNothing()
      .returning({ userId: approvalVotes.userId });
    if (inserted.length === 0) throw new AirlockError('conflict', 'you have already voted on this request');
    await appendAudit(tx, {
      type: 'approval.vote',
      actor: { type: 'user', id: reviewer.id },
      requestId,
      payload: { decision, reason: reason ?? null, role: reviewer.role },
    });

    const [{ approvals }] = await tx
      .select({ approvals: count() })
      .from(approvalVotes)
      .where(and(eq(approvalVotes.requestId, requestId), eq(approvalVotes.decision, 'approve')));

    const status = decision === 'deny' ? 'denied' : approvals >= request.requiredApprovals ? 'approved' : null;
    if (!status) {
      await notifyChange(tx, requestId, 'pending');
      return { request, approvals, final: false };
    }
    const [updated] = await tx
      .update(approvalRequests)
      .set({
        status,
        decidedAt: new Date(),
        decidedBy: reviewer.id,
        reason: reason || null,
        approvedArguments: status === 'approved' ? request.arguments : null,
        approvedArgumentsDigest: status === 'approved' ? request.argumentsDigest : null,
      })
      .where(and(eq(approvalRequests.id, requestId), eq(approvalRequests.status, 'pending')))
      .returning();
    if (!updated) throw new AirlockError('conflict', 'this request was decided concurrently');
    await appendAudit(tx, {
      type: 'approval.decided',
      actor: { type: 'user', id: reviewer.id },
      requestId,
      payload: { status, reason: reason ?? null, approvals, quorum: request.requiredApprovals, argumentsDigest: updated.approvedArgumentsDigest },
    });
    await notifyChange(tx, requestId, status);
    return { request: updated, approvals, final: true };
  });
}

