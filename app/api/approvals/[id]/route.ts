import { maskArguments } from '@/server/approvals/masking';
import { getRequestDetail } from '@/server/approvals/queries';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// GET /api/approvals/:id — one request with its agent, owner, votes and session history.
// invariant 8: secrets in the arguments are masked (`secrets` lists where); a script reveals
// one through POST /api/approvals/:id/reveal, audited, like the console does.
export const GET = withUser({ permission: 'approvals.read' }, async ({ params }) => {
  const request = await getRequestDetail(db().orm, params.id);
  const args = maskArguments(request.arguments);
  const approved = request.approvedArguments === null ? null : maskArguments(request.approvedArguments);
  return Response.json({
    ...request,
    arguments: args.masked,
    secrets: args.secrets,
    approvedArguments: approved?.masked ?? null,
    approvedSecrets: approved?.secrets ?? [],
  });
});
