import type { Role } from '../../db/schema';

export const permissions = ['approvals.read', 'approvals.decide', 'audit.read', 'users.manage', 'agents.manage', 'upstreams.read'] as const;

/** Something a signed-in person may do; checked at every entry point (invariant 7). */
export type Permission = (typeof permissions)[number];

export type { Role };

/**
 * What each role may do. Approvers do not read the raw audit log; auditors read
 * everything a reviewer sees but never decide (invariant 4).
 */
export const rolePermissions: Readonly<Record<Role, ReadonlySet<Permission>>> = {
  admin: new Set(permissions),
  approver: new Set<Permission>(['approvals.read', 'approvals.decide', 'upstreams.read']),
  auditor: new Set<Permission>(['approvals.read', 'audit.read', 'upstreams.read']),
};

/** Whether `role` grants `permission`; an unknown role grants nothing. */
export function can(role: Role, permission: Permission): boolean {
  return rolePermissions[role]?.has(permission) ?? false;
}
