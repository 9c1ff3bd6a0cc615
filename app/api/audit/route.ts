import { z } from 'zod';
import { searchAudit } from '@/server/audit/search';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

const ZAuditQuery = z
  .object({
    type: z.string().max(100).optional(),
    requestId: z.string().max(100).optional(),
    actorId: z.string().max(100).optional(),
    after: z.coerce.number().int().positive().optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

// GET /api/audit?type=approval.*&requestId=… — audit events, newest first, a page at a time
export const GET = withUser({ permission: 'audit.read', query: ZAuditQuery }, async ({ query }) =>
  Response.json(await searchAudit(db().orm, query)),
);
