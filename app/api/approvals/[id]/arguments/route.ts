import { viewArguments } from '@/server/approvals/reveal';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// POST /api/approvals/:id/arguments — the raw arguments, secrets included, for a reviewer about to edit them.
// A POST, not a GET: reading them is audited, and a link from another site (a GET, cookies sent)
// must not record a view in a reviewer's name; a POST from another origin is refused
export const POST = withUser({ permission: 'approvals.decide' }, async ({ user, params }) =>
  Response.json({ arguments: await viewArguments(db(), { requestId: params.id, user }) }, { headers: { 'cache-control': 'no-store' } }),
);
