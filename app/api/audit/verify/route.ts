import { verifyAudit } from '@/server/audit/verify';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// GET /api/audit/verify — check the whole hash chain; 200 either way, `ok` tells
export const GET = withUser({ permission: 'audit.read' }, async () => Response.json(await verifyAudit(db().orm)));
