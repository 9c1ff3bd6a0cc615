import type { Role } from '../../db/schema';
import { can } from '../auth/permissions';
import type { RuleSnapshot } from './types';

/** A refusal: the error code `decide` answers with, and the sentence a reviewer reads. */
export type Refusal = { code: 'forbidden'; message: string };

/** What one person may do with one pending request. */
export type ReviewRights = {
  /** Why they may not decide at all (deny included), or null. */
  decide: Refusal | null;
  /** Why they may not approve (they may still deny), or null. */
  approve: Refusal | null;
  /** Whether they may edit the arguments before approving. */
  edit: boolean;
  /** Longest session grant they may give with an approval; 0 offers none. */
  maxGrantMinutes: number;
};

export type RightsInput = {
  reviewer: { id: string; role: Role };
  request: { approverRoles: readonly string[]; requiredApprovals: number; rule: RuleSnapshot };
  /** The user who owns the request's agent. */
  ownerId: string;
};

/**
 * The separation-of-duties rules of a decision (invariant 4), in one place: `decide`
 * enforces them with the reviewer's role as stored at that moment, and the request page
 * shows the same refusals instead of buttons that would fail.
 */
export function reviewRights({ reviewer, request, ownerId }: RightsInput): ReviewRights {
  const single = request.requiredApprovals === 1;
  const decide: Refusal | null = !can(reviewer.role, 'approvals.decide')
    ? {
        code: 'forbidden',
        message: `As ${/^[aeiou]/.test(reviewer.role) ? 'an' : 'a'} ${reviewer.role}, you can see this request but not decide it.`,
      }
    : reviewer.role !== 'admin' && !request.approverRoles.includes(reviewer.role)
      ? { code: 'forbidden', message: `Rule ${request.rule.id} lets only ${request.approverRoles.join(' or ')} reviewers decide.` }
      : null;
  return {
    decide,
    approve:
      ownerId === reviewer.id
        ? { code: 'forbidden', message: 'You own this agent, so you cannot approve its calls (you may deny them).' }
        : null,
    // with several approvers each must approve the same call: an edit or a grant would change it under them
    edit: Boolean(request.rule.allowEdit) && single,
    maxGrantMinutes: single ? (request.rule.maxGrantMinutes ?? 0) : 0,
  };
}
