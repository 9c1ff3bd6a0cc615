import { eq } from 'drizzle-orm';
import { z } from 'zod';
import type { Database } from '../../db/database';
import { agents, type Role } from '../../db/schema';
import { appendAudit } from '../audit/append';
import { AirlockError } from '../lib/errors';
import { getRequest } from './lifecycle';
import { findMaskedSecret, MAX_SECRET_DEPTH } from './masking';
import { reviewRights } from './rights';
import type { RuleSnapshot } from './types';

export const ZReveal = z
  .object({
    /** Where the secret sits in the masked arguments, as the page's secrets list gives it. */
    path: z.array(z.union([z.string().max(100_000), z.number().int().min(0)])).max(MAX_SECRET_DEPTH),
    /** The agent's arguments, or the ones a reviewer edited and approved. */
    which: z.enum(['arguments', 'approved']).default('arguments'),
    /** The secret is the object key at the end of `path`, not the value under it. */
    key: z.boolean().default(false),
  })
  .strict();

export type RevealOptions = z.output<typeof ZReveal> & { requestId: string; userId: string };

/**
 * One masked secret of a request's arguments, for the reviewer who asks. Only what the
 * console masked can be revealed (invariant 8: this is not a way to read arguments), and
 * the reveal is audited before the value leaves (invariant 5).
 */
export async function revealSecret(database: Database, { requestId, userId, path, which, key }: RevealOptions): Promise<unknown> {
  const request = await getRequest(database.orm, requestId);
  const source = which === 'approved' ? request.approvedArguments : request.arguments;
  if (source === null || source === undefined) throw new AirlockError('not_found', 'this request has no approved arguments');
  const secret = findMaskedSecret(source, path, key);
  if (!secret) throw new AirlockError('bad_request', 'no masked secret at this path');
  await database.orm.transaction((tx) =>
    appendAudit(tx, {
      type: 'approval.secret_revealed',
      actor: { type: 'user', id: userId },
      requestId: request.id,
      payload: { which, path, kind: secret.kind, ...(key ? { key: true } : {}) },
    }),
  );
  return secret.value;
}

/**
 * The raw arguments, secrets included, for a reviewer about to edit them; audited first. Only
 * someone who could approve this pending request with edited arguments gets them: the rights
 * `decide` enforces (invariant 4), read with the role as stored now.
 */
export async function viewArguments(
  database: Database,
  { requestId, user }: { requestId: string; user: { id: string; role: Role } },
): Promise<unknown> {
  const request = await getRequest(database.orm, requestId);
  if (request.status !== 'pending') throw new AirlockError('conflict', `this request is already ${request.status}`);
  const [agent] = await database.orm.select({ ownerId: agents.ownerId }).from(agents).where(eq(agents.id, request.agentId));
  const rule = request.rule as RuleSnapshot;
  const rights = reviewRights({ reviewer: user, request: { ...request, rule }, ownerId: agent?.ownerId ?? '' });
  const refusal = rights.decide ?? rights.approve;
  if (refusal) throw new AirlockError(refusal.code, refusal.message);
  if (!rights.edit) throw new AirlockError('forbidden', `rule ${rule.id} does not let this request's arguments be edited`);
  await database.orm.transaction((tx) =>
    appendAudit(tx, {
      type: 'approval.arguments_viewed',
      actor: { type: 'user', id: user.id },
      requestId: request.id,
      payload: { argumentsDigest: request.argumentsDigest },
    }),
  );
  return request.arguments;
}
