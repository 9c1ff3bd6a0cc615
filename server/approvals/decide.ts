import { and, eq, getTableColumns, sql } from 'drizzle-orm';
import type { Database } from '../../db/database';
import { agents, approvalRequests, approvalVotes, type Role, users } from '../../db/schema';
import { type AuditInput, appendAudit } from '../audit/append';
import { digest } from '../lib/digest';
import { AirlockError } from '../lib/errors';
import { createGrant } from './grants';
import { approvalNotice, dbNow, overdue } from './lifecycle';
import { maskArguments } from './masking';
import { countedApprovals } from './quorum';
import { reviewRights } from './rights';
import { checkArguments } from './schema-check';
import type { ApprovalRequest, DecisionInput, Reviewer, RuleSnapshot } from './types';

export type DecideOptions = DecisionInput & { requestId: string; user: Reviewer };

export type DecideResult = { request: ApprovalRequest; approvals: number; final: boolean };

/**
 * Record one person's vote on a pending request and, when it settles the request (a deny,
 * or the quorum of distinct approvers), its final status. The request row is locked for
 * the transaction, so concurrent decisions serialize and exactly one outcome wins (invariant 3).
 * The reviewer's role and status are read here, not from the session (invariant 4).
 */
export async function decide(database: Database, options: DecideOptions): Promise<DecideResult> {
  const { requestId, user, decision, reason, arguments: edited, grantMinutes } = options;
  return database.orm.transaction(async (tx) => {
    // one round trip: the request (locked), its agent's owner, and the reviewer as stored now
    const [row] = await tx
      .select({
        request: approvalRequests,
        ownerId: agents.ownerId,
        reviewerRole: sql<Role | null>`(select ${users.role} from ${users} where ${users.id} = ${user.id})`,
        reviewerDisabled: sql<boolean | null>`(select ${users.disabled} from ${users} where ${users.id} = ${user.id})`,
        expired: sql<boolean>`${overdue}`,
      })
      .from(approvalRequests)
      .innerJoin(agents, eq(agents.id, approvalRequests.agentId))
      .where(eq(approvalRequests.id, requestId))
      .for('update', { of: approvalRequests });
    if (!row) throw new AirlockError('not_found', `approval request ${requestId} not found`);
    if (!row.reviewerRole || row.reviewerDisabled !== false) throw new AirlockError('forbidden', 'your account is disabled');
    const reviewer = { id: user.id, role: row.reviewerRole };
    const request = row.request;
    if (request.status !== 'pending') throw new AirlockError('conflict', `this request is already ${request.status}`);
    if (row.expired) throw new AirlockError('conflict', 'this request has expired');

    const rule = request.rule as RuleSnapshot;
    const rights = reviewRights({ reviewer, request: { ...request, rule }, ownerId: row.ownerId });
    if (rights.decide) throw new AirlockError(rights.decide.code, rights.decide.message);
    if (decision === 'approve' && rights.approve) throw new AirlockError(rights.approve.code, rights.approve.message);

    let editedDigest: string | null = null;
    try {
      editedDigest = edited === undefined ? null : digest(edited);
    } catch (error) {
      throw new AirlockError('bad_request', `the edited arguments are ${(error as Error).message}`);
    }
    const isEdit = editedDigest !== null && editedDigest !== request.argumentsDigest;
    if (isEdit) {
      if (!rule.allowEdit) throw new AirlockError('forbidden', `rule ${rule.id} does not allow editing the arguments`);
      if (!rights.edit) throw new AirlockError('bad_request', 'arguments can be edited only on requests that need one approval');
      const violations = checkArguments((request.toolDefinition as { inputSchema?: unknown }).inputSchema, edited);
      if (violations.length > 0) {
        throw new AirlockError(
          'bad_request',
          `the edited arguments do not match the tool's input schema: ${violations.map((v) => `${v.path || '/'} ${v.message}`).join('; ')}`,
          { violations },
        );
      }
    }
    if (grantMinutes !== undefined) {
      // a grant lets the agent's next calls through as they come: after an edit, the unedited ones
      if (isEdit) {
        throw new AirlockError(
          'bad_request',
          'a session grant cannot come with edited arguments: it would let the agent’s unedited calls through',
        );
      }
      if (!rule.maxGrantMinutes) throw new AirlockError('forbidden', `rule ${rule.id} does not allow session grants`);
      if (rights.maxGrantMinutes === 0)
        throw new AirlockError('bad_request', 'session grants are available only on requests that need one approval');
      if (grantMinutes > rights.maxGrantMinutes)
        throw new AirlockError('bad_request', `rule ${rule.id} allows grants of at most ${rights.maxGrantMinutes} minutes`);
    }

    const inserted = await tx
      .insert(approvalVotes)
      .values({ requestId, userId: reviewer.id, decision, reason: reason || null })
      .onConflictDoNothing()
      .returning({ userId: approvalVotes.userId });
    if (inserted.length === 0) throw new AirlockError('conflict', 'you have already voted on this request');
    const vote: AuditInput = {
      type: 'approval.vote',
      actor: { type: 'user', id: reviewer.id },
      requestId,
      payload: {
        decision,
        reason: reason ?? null,
        role: reviewer.role,
        edited: isEdit,
        grantMinutes: grantMinutes ?? null,
        // a token may have been minted by an admin for this person: which one voted is kept
        ...(user.tokenId ? { apiTokenId: user.tokenId } : {}),
      },
    };

    // invariant 4: quorum counts distinct people who may still decide now (an approver since
    // disabled or demoted no longer counts); roles are read here, not from the votes. A deny
    // settles the request; an approval settles it once the count, taken by the update itself
    // and seeing this vote, reaches the quorum. One round trip when the vote is final
    const status = decision === 'deny' ? 'denied' : 'approved';
    const settles = decision === 'deny' ? sql`true` : sql`${countedApprovals} >= ${approvalRequests.requiredApprovals}`;
    const [settled] = await tx
      .update(approvalRequests)
      .set({
        status,
        decidedAt: dbNow,
        decidedBy: reviewer.id,
        reason: reason || null,
        // invariant 2: the gateway runs exactly these, re-checked against this digest
        approvedArguments: status === 'approved' ? (isEdit ? edited : request.arguments) : null,
        approvedArgumentsDigest: status === 'approved' ? (isEdit ? editedDigest : request.argumentsDigest) : null,
      })
      .where(and(eq(approvalRequests.id, requestId), eq(approvalRequests.status, 'pending'), settles))
      .returning({ ...getTableColumns(approvalRequests), approvals: countedApprovals });
    if (!settled) {
      // an approval short of the quorum: a deny always settles, and the row, locked, is still pending
      const [{ approvals }] = await tx
        .select({ approvals: countedApprovals })
        .from(approvalRequests)
        .where(eq(approvalRequests.id, requestId));
      await appendAudit(tx, vote, approvalNotice(requestId, 'pending'));
      return { request, approvals, final: false };
    }
    const { approvals, ...updated } = settled;
    // the vote and the decision in one append, which also sends the notification
    await appendAudit(
      tx,
      [
        vote,
        {
          type: 'approval.decided',
          actor: { type: 'user', id: reviewer.id },
          requestId,
          payload: {
            status,
            reason: reason ?? null,
            approvals,
            quorum: request.requiredApprovals,
            originalArgumentsDigest: request.argumentsDigest,
            argumentsDigest: updated.approvedArgumentsDigest,
            edited: isEdit,
            ...(isEdit ? { editedArguments: maskArguments(edited).masked } : {}),
          },
        },
      ],
      approvalNotice(requestId, status),
    );
    if (status === 'approved' && grantMinutes !== undefined) await createGrant(tx, { request, userId: reviewer.id, minutes: grantMinutes });
    return { request: updated, approvals, final: true };
  });
}
