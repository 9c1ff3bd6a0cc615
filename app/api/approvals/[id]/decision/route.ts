import { decide } from '@/server/approvals/decide';
import { ZDecision } from '@/server/approvals/types';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// POST /api/approvals/:id/decision — approve or deny a held call; 409 once decided
export const POST = withUser({ permission: 'approvals.decide', body: ZDecision }, async ({ user, body, params }) => {
  const { request, approvals } = await decide(db(), { requestId: params.id, user, ...body });
  // the answer leaves the arguments out: the console must not receive secrets unasked
  // (GET /api/approvals/:id has them for scripts)
  const { arguments: _arguments, approvedArguments: _approved, toolDefinition: _definition, ...rest } = request;
  return Response.json({ ...rest, approvals });
});
