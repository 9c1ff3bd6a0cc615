import { getRequestDetail } from '@/server/approvals/queries';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// GET /api/approvals/:id — one request with its agent, owner, votes and session history
export const GET = withUser({ permission: 'approvals.read' }, async ({ params }) =>
  Response.json(await getRequestDetail(db().orm, params.id)),
);
