import { viewArguments } from '@/server/approvals/reveal';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// GET /api/approvals/:id/arguments — the raw arguments, secrets included, for a reviewer about to edit them (audited)
export const GET = withUser({ permission: 'approvals.decide' }, async ({ user, params }) =>
  Response.json({ arguments: await viewArguments(db(), { requestId: params.id, user }) }, { headers: { 'cache-control': 'no-store' } }),
);
