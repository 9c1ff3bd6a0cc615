import { revealSecret, ZReveal } from '@/server/approvals/reveal';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// POST /api/approvals/:id/reveal — one masked secret of a request's arguments, for the reviewer who asks (audited)
export const POST = withUser({ permission: 'approvals.read', body: ZReveal }, async ({ user, body, params }) =>
  Response.json(
    { value: await revealSecret(db(), { requestId: params.id, userId: user.id, ...body }) },
    { headers: { 'cache-control': 'no-store' } },
  ),
);
