import { type SQL, type SQLWrapper, sql } from 'drizzle-orm';

/**
 * Whether a person may still approve a request, in SQL (invariant 4): enabled, not an auditor
 * (who never decides, even if a rule names the role), and an admin or of one of the request's
 * approver roles. The quorum's count and the grants in force both ask it; `reviewRights` is
 * the same rule for one person in TypeScript.
 */
export function mayStillApprove(role: SQLWrapper, disabled: SQLWrapper, approverRoles: SQLWrapper): SQL {
  return sql`(not ${disabled} and ${role} <> 'auditor' and (${role} = 'admin' or ${role} = any(${approverRoles})))`;
}

/**
 * The approvals that count toward a request's quorum (invariant 4): one per person who may
 * still decide it now, that is enabled, not an auditor (who never decides, even if a rule names
 * the role), and an admin or of one of the request's approver roles.
 * `decide` and every view of a request count with this one expression, so the console never
 * shows a vote that the quorum no longer counts. Correlated to `approval_requests` in the query,
 * by its qualified name: drizzle leaves columns unqualified in a single-table select, where
 * `id` would bind to the subquery's own `users.id`.
 */
export const countedApprovals = sql<number>`(
  select count(*) from approval_votes v join users u on u.id = v.user_id
  where v.request_id = "approval_requests"."id" and v.decision = 'approve'
    and ${mayStillApprove(sql`u.role`, sql`u.disabled`, sql`"approval_requests"."approver_roles"`)}
)`.mapWith(Number);
