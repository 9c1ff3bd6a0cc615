import { listQueue, ZQueueQuery } from '@/server/approvals/queue';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// GET /api/queue?status=pending&sort=time-left&risk=high — the console's queue and history pages
export const GET = withUser({ permission: 'approvals.read', query: ZQueueQuery }, async ({ query }) =>
  Response.json(await listQueue(db().orm, query)),
);
