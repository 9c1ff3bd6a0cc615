import { z } from 'zod';
import { getRequest } from '@/server/approvals/lifecycle';
import { checkArguments } from '@/server/approvals/schema-check';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

const ZCheck = z.object({ arguments: z.record(z.string(), z.unknown()) }).strict();

// POST /api/approvals/:id/check — validate edited arguments against the tool's input schema (changes nothing)
export const POST = withUser({ permission: 'approvals.decide', body: ZCheck }, async ({ body, params }) => {
  const request = await getRequest(db().orm, params.id);
  const schema = (request.toolDefinition as { inputSchema?: unknown }).inputSchema;
  return Response.json({ violations: checkArguments(schema, body.arguments) });
});
