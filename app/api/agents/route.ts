import { registerAgent, ZAdminCreateAgent } from '@/server/auth/admin';
import { listAgents } from '@/server/auth/agents';
import { withUser } from '@/server/http/route';
import { db, runtime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// GET /api/agents — every agent with its owner's email (revoked ones included)
export const GET = withUser({ permission: 'agents.manage' }, async () => Response.json({ agents: await listAgents(db()) }));

// POST /api/agents — register an agent; its token is in this response and nowhere else
export const POST = withUser({ permission: 'agents.manage', body: ZAdminCreateAgent }, async ({ user, body }) =>
  Response.json(
    await registerAgent(db(), { ...body, configured: Object.keys(runtime().config.upstreams), actor: { type: 'user', id: user.id } }),
    { status: 201, headers: { 'cache-control': 'no-store' } },
  ),
);
