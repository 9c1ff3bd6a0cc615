import { listRequests, ZListQuery } from '@/server/approvals/queries';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// GET /api/approvals?status=pending — approval requests, the queue first
export const GET = withUser({ permission: 'approvals.read', query: ZListQuery }, async ({ query }) =>
  Response.json(await listRequests(db().orm, query)),
);
