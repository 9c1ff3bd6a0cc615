import type { Permission } from '@/server/auth/permissions';

/** The Admin section's pages, each opened by one permission. */
export const adminSections: { href: string; label: string; permission: Permission; description: string }[] = [
  {
    href: '/admin/users',
    label: 'Users',
    permission: 'users.manage',
    description: 'Add people, change roles, disable accounts, reset passwords, revoke API tokens.',
  },
  {
    href: '/admin/agents',
    label: 'Agents',
    permission: 'agents.manage',
    description: 'Create agent identities and tokens, connect MCP clients, revoke access.',
  },
  {
    href: '/admin/upstreams',
    label: 'Upstreams',
    permission: 'upstreams.read',
    description: 'The MCP servers behind Airlock, their tools, and what the rules do with each.',
  },
];
