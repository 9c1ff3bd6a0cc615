import { describe, expect, it } from 'vitest';
import type { Role } from '../../db/schema';
import { reviewRights } from '../../server/approvals/rights';
import type { RuleSnapshot } from '../../server/approvals/types';

const rule = (extra: Partial<RuleSnapshot> = {}) => ({ id: 'pay', allowEdit: true, maxGrantMinutes: 30, ...extra }) as RuleSnapshot;
const rights = (role: Role, { approverRoles = ['approver'], required = 1, owner = 'someone-else', r = rule() } = {}) =>
  reviewRights({ reviewer: { id: 'me', role }, request: { approverRoles, requiredApprovals: required, rule: r }, ownerId: owner });

describe('reviewRights (invariant 4)', () => {
  it.each([
    ['an approver named by the rule', 'approver', ['approver'], null],
    ['an admin, always', 'admin', ['approver'], null],
    ['an auditor, never', 'auditor', ['auditor'], 'As an auditor, you can see this request but not decide it.'],
    ['an approver the rule does not name', 'approver', ['admin'], 'Rule pay lets only admin reviewers decide.'],
  ] as const)('decide: %s', (_label, role, approverRoles, refusal) => {
    expect(rights(role, { approverRoles: [...approverRoles] }).decide?.message ?? null).toBe(refusal);
  });

  it("refuses the agent's owner an approval, not a denial", () => {
    const own = rights('approver', { owner: 'me' });
    expect(own.decide).toBeNull();
    expect(own.approve).toMatchObject({ code: 'forbidden', message: expect.stringContaining('own this agent') });
    expect(rights('admin', { owner: 'me' }).approve).not.toBeNull();
    expect(rights('approver').approve).toBeNull();
  });

  it.each([
    ['one approval, a rule that allows both', 1, rule(), true, 30],
    ['a quorum of two', 2, rule(), false, 0],
    ['a rule that allows neither', 1, rule({ allowEdit: false, maxGrantMinutes: 0 }), false, 0],
  ] as const)('edits and grants: %s', (_label, required, r, edit, minutes) => {
    expect(rights('approver', { required, r })).toMatchObject({ edit, maxGrantMinutes: minutes });
  });
});
