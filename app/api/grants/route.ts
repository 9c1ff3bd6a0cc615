import { listActiveGrants } from '@/server/approvals/grants';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// GET /api/grants — session grants still in force
export const GET = withUser({ permission: 'approvals.read' }, async () => Response.json({ items: await listActiveGrants(db().orm) }));
