import { randomUUID } from 'node:crypto';
import { and, desc, eq, gt, isNull } from 'drizzle-orm';
import type { Database, Executor } from '../../db/database';
import { agents, approvalRequests, grants, users } from '../../db/schema';
import { appendAudit } from '../audit/append';
import { AirlockError } from '../lib/errors';
import { notifyChange } from './lifecycle';
import { mayStillApprove } from './quorum';
import type { ApprovalRequest } from './types';

export type Grant = typeof grants.$inferSelect;

/**
 * "Approve and allow matching calls for this session for N minutes": created in the
 * deciding transaction, audited with it. Matching = same MCP session, upstream and tool,
 * with the tool definition the reviewer saw.
 */
export async function createGrant(
  tx: Executor,
  { request, userId, minutes }: { request: ApprovalRequest; userId: string; minutes: number },
): Promise<Grant> {
  const now = new Date();
  const [grant] = await tx
    .insert(grants)
    .values({
      id: randomUUID(),
      requestId: request.id,
      agentId: request.agentId,
      sessionId: request.sessionId,
      upstream: request.upstream,
      tool: request.tool,
      toolDefinitionHash: request.toolDefinitionHash,
      createdBy: userId,
      createdAt: now,
      expiresAt: new Date(now.getTime() + minutes * 60_000),
    })
    .returning();
  await appendAudit(tx, {
    type: 'grant.created',
    actor: { type: 'user', id: userId },
    requestId: request.id,
    payload: {
      grantId: grant.id,
      sessionId: grant.sessionId,
      upstream: grant.upstream,
      tool: grant.tool,
      minutes,
      expiresAt: grant.expiresAt.toISOString(),
    },
  });
  return grant;
}

/** The grant's giver (joined as `users`) could still approve its request (joined as `approval_requests`). */
const giverMayApprove = mayStillApprove(users.role, users.disabled, approvalRequests.approverRoles);

/**
 * The live grants of a session for a tool (the gateway asks before holding a call). Each is
 * bound to the definition the reviewer saw: the caller compares `toolDefinitionHash` with the
 * tool's current definition, and reads that only when there is a grant to compare. A grant
 * stands only while the person who gave it could still approve its request (invariant 4): one
 * given by someone since disabled, made an auditor, or moved out of the rule's approver roles
 * lets nothing more through.
 */
export async function findGrants(
  db: Executor,
  { agentId, sessionId, upstream, tool }: { agentId: string; sessionId: string; upstream: string; tool: string },
): Promise<Grant[]> {
  const rows = await db
    .select({ grant: grants })
    .from(grants)
    .innerJoin(users, eq(users.id, grants.createdBy))
    .innerJoin(approvalRequests, eq(approvalRequests.id, grants.requestId))
    .where(
      and(
        eq(grants.sessionId, sessionId),
        eq(grants.upstream, upstream),
        eq(grants.tool, tool),
        eq(grants.agentId, agentId),
        isNull(grants.revokedAt),
        gt(grants.expiresAt, new Date()),
        giverMayApprove,
      ),
    );
  return rows.map((row) => row.grant);
}

/** Grants still in force (their giver could still approve, as `findGrants` asks), newest first, for the queue page. */
export async function listActiveGrants(db: Executor) {
  return db
    .select({
      id: grants.id,
      requestId: grants.requestId,
      sessionId: grants.sessionId,
      upstream: grants.upstream,
      tool: grants.tool,
      agent: agents.name,
      createdBy: users.email,
      createdAt: grants.createdAt,
      expiresAt: grants.expiresAt,
    })
    .from(grants)
    .innerJoin(agents, eq(agents.id, grants.agentId))
    .innerJoin(users, eq(users.id, grants.createdBy))
    .innerJoin(approvalRequests, eq(approvalRequests.id, grants.requestId))
    .where(and(isNull(grants.revokedAt), gt(grants.expiresAt, new Date()), giverMayApprove))
    .orderBy(desc(grants.createdAt))
    .limit(200);
}

/** Revoke a grant at once; audited. Approvers and admins may revoke any grant. */
export async function revokeGrant(database: Database, { grantId, userId }: { grantId: string; userId: string }): Promise<Grant> {
  return database.orm.transaction(async (tx) => {
    const [revoked] = await tx
      .update(grants)
      .set({ revokedAt: new Date(), revokedBy: userId })
      .where(and(eq(grants.id, grantId), isNull(grants.revokedAt)))
      .returning();
    if (!revoked) {
      const [existing] = await tx.select({ id: grants.id }).from(grants).where(eq(grants.id, grantId));
      throw existing
        ? new AirlockError('conflict', 'this grant is already revoked')
        : new AirlockError('not_found', `grant ${grantId} not found`);
    }
    await appendAudit(tx, {
      type: 'grant.revoked',
      actor: { type: 'user', id: userId },
      requestId: revoked.requestId,
      payload: { grantId },
    });
    // consoles showing the grant refresh on the request's change event
    await notifyChange(tx, revoked.requestId, 'grant');
    return revoked;
  });
}
