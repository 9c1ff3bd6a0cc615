import { decide } from '@/server/approvals/decide';
import { getRequestDetail } from '@/server/approvals/queries';
import { ZDecision } from '@/server/approvals/types';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// POST /api/approvals/:id/decision — approve or deny a held call; 409 once decided
export const POST = withUser({ permission: 'approvals.decide', body: ZDecision }, async ({ user, body, params }) => {
  await decide(db(), { requestId: params.id, user, ...body });
  return Response.json(await getRequestDetail(db().orm, params.id));
});
