import { listUpstreamTools } from '@/server/config/upstream-tools';
import { withUser } from '@/server/http/route';
import { db, runtime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// GET /api/upstreams — configured upstreams (secrets masked), their last tool listing and each tool's action
export const GET = withUser({ permission: 'upstreams.read' }, async () =>
  Response.json({ upstreams: await listUpstreamTools(db().orm, { config: runtime().config }) }),
);
