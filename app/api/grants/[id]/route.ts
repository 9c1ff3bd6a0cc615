import { revokeGrant } from '@/server/approvals/grants';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// DELETE /api/grants/:id — revoke a session grant at once
export const DELETE = withUser({ permission: 'approvals.decide' }, async ({ user, params }) =>
  Response.json(await revokeGrant(db(), { grantId: params.id, userId: user.id })),
);
