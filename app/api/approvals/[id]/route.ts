import { getRequestDetail } from '@/server/approvals/queries';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// GET /api/approvals/:id — one request with its agent, owner, votes and session history.
// Arguments are returned raw, secrets included: API clients are trusted scripts holding a
// personal API token. The console never uses this endpoint for display; its pages mask on
// the server (server/approvals/masking.ts) and reveal one audited secret at a time.
export const GET = withUser({ permission: 'approvals.read' }, async ({ params }) =>
  Response.json(await getRequestDetail(db().orm, params.id)),
);
