import { maskArguments } from '@/server/approvals/masking';
import { listRequests, ZListQuery } from '@/server/approvals/queries';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// GET /api/approvals?status=pending — approval requests, the queue first, a page at a time
// (secrets in arguments masked, as on GET /api/approvals/:id)
export const GET = withUser({ permission: 'approvals.read', query: ZListQuery }, async ({ query }) => {
  const page = await listRequests(db().orm, query);
  return Response.json({
    ...page,
    items: page.items.map((item) => {
      const args = maskArguments(item.arguments);
      return { ...item, arguments: args.masked, secrets: args.secrets };
    }),
  });
});
