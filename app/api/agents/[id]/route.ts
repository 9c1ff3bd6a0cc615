import { revokeAgent } from '@/server/auth/agents';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// DELETE /api/agents/:id — revoke the agent's token for good; 409 when already revoked
export const DELETE = withUser({ permission: 'agents.manage' }, async ({ user, params }) =>
  Response.json({ agent: await revokeAgent(db(), { agentId: params.id, actor: { type: 'user', id: user.id } }) }),
);
