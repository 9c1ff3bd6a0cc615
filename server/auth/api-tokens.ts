import { randomUUID } from 'node:crypto';
import { and, desc, eq, isNull, lt, or, sql } from 'drizzle-orm';
import { z } from 'zod';
import { apiTokens, users } from '../../db/schema';
import { type AuditActor, appendAudit } from '../audit/append';
import { hashToken, newToken, TOKEN_PREFIX } from '../lib/digest';
import { AirlockError } from '../lib/errors';
import { type DatabaseOrExecutor, executor, inTransaction } from './executor';
import { type User, userColumns } from './users';
import { parseInput, ZActor, ZEmail, ZLabel } from './validation';

/** A personal API token as listed: never its hash. */
export type ApiToken = Omit<typeof apiTokens.$inferSelect, 'tokenHash'>;

const tokenColumns = {
  id: apiTokens.id,
  userId: apiTokens.userId,
  name: apiTokens.name,
  createdAt: apiTokens.createdAt,
  lastUsedAt: apiTokens.lastUsedAt,
  revokedAt: apiTokens.revokedAt,
};

/** last_used_at is informative: writing it on every request would turn each read into a write. */
const LAST_USED_RESOLUTION_MS = 60_000;

export const ZCreateApiToken = z.object({
  userEmail: ZEmail,
  name: ZLabel.default('cli'),
  actor: ZActor.optional(),
});
export type CreateApiTokenOptions = z.input<typeof ZCreateApiToken> & { actor?: AuditActor };

/**
 * Mint a personal API token for scripts, acting as the user with the user's role. The
 * token is returned once; only its SHA-256 is stored. Audited `token.created`.
 */
export async function createApiToken(
  db: DatabaseOrExecutor,
  options: CreateApiTokenOptions,
): Promise<{ token: string; apiToken: ApiToken }> {
  const input = parseInput(ZCreateApiToken, options);
  const token = newToken('user');
  return inTransaction(db, async (tx) => {
    const [user] = await tx.select().from(users).where(eq(users.email, input.userEmail));
    if (!user) throw new AirlockError('not_found', `no user with email ${input.userEmail}`);
    if (user.disabled) throw new AirlockError('bad_request', `user ${user.email} is disabled`);
    const [apiToken] = await tx
      .insert(apiTokens)
      .values({ id: randomUUID(), userId: user.id, name: input.name, tokenHash: hashToken(token) })
      .returning(tokenColumns);
    await appendAudit(tx, {
      type: 'token.created',
      actor: input.actor ?? { type: 'system' },
      payload: { tokenId: apiToken.id, name: apiToken.name, userId: user.id, email: user.email },
    });
    return { token, apiToken };
  });
}

const ZRevokeApiToken = z.object({
  tokenId: z.string().min(1),
  /** When given, only a token of this user is revoked (a person revoking their own). */
  userId: z.string().min(1).optional(),
  actor: ZActor.optional(),
});
export type RevokeApiTokenOptions = z.input<typeof ZRevokeApiToken> & { actor?: AuditActor };

/** Revoke a personal API token, audited `token.revoked`. */
export async function revokeApiToken(db: DatabaseOrExecutor, options: RevokeApiTokenOptions): Promise<ApiToken> {
  const input = parseInput(ZRevokeApiToken, options);
  return inTransaction(db, async (tx) => {
    const [row] = await tx.select(tokenColumns).from(apiTokens).where(eq(apiTokens.id, input.tokenId)).for('update');
    // another user's token is reported as missing: its existence is none of the caller's business
    if (!row || (input.userId !== undefined && row.userId !== input.userId))
      throw new AirlockError('not_found', `no API token ${input.tokenId}`);
    if (row.revokedAt) throw new AirlockError('conflict', `API token ${row.name} is already revoked`);
    const [apiToken] = await tx.update(apiTokens).set({ revokedAt: new Date() }).where(eq(apiTokens.id, row.id)).returning(tokenColumns);
    await appendAudit(tx, {
      type: 'token.revoked',
      actor: input.actor ?? { type: 'system' },
      payload: { tokenId: row.id, name: row.name, userId: row.userId },
    });
    return apiToken;
  });
}

/** A token as listed for an administrator: with the email of the user it acts as. */
export type ApiTokenListing = ApiToken & { userEmail: string };

/** API tokens, newest first, revoked ones included: one user's (by email) or everyone's. */
export async function listApiTokens(db: DatabaseOrExecutor, options: { userEmail?: string } = {}): Promise<ApiTokenListing[]> {
  const userEmail = options.userEmail === undefined ? undefined : parseInput(ZEmail, options.userEmail);
  const handle = executor(db);
  if (userEmail !== undefined && (await handle.select({ id: users.id }).from(users).where(eq(users.email, userEmail))).length === 0)
    throw new AirlockError('not_found', `no user with email ${userEmail}`);
  return handle
    .select({ ...tokenColumns, userEmail: users.email })
    .from(apiTokens)
    .innerJoin(users, eq(users.id, apiTokens.userId))
    .where(userEmail === undefined ? undefined : eq(users.email, userEmail))
    .orderBy(desc(apiTokens.createdAt), desc(apiTokens.id));
}

/**
 * The enabled user a personal API token belongs to, with the token's id (a decision made
 * with it names the token in the audit log: an admin may have minted it for someone else);
 * throws `unauthorized` for a malformed, unknown or revoked token or a disabled user. One
 * indexed lookup; at most once a minute per token, a conditional update of `last_used_at`.
 */
export async function authenticateApiToken(db: DatabaseOrExecutor, token: string | null | undefined): Promise<User & { tokenId: string }> {
  if (typeof token === 'string' && token.startsWith(TOKEN_PREFIX.agent))
    throw new AirlockError('unauthorized', 'this is an agent token, for /mcp/<upstream>; the API takes a person’s token (alk_user_…)');
  if (typeof token !== 'string' || !token.startsWith(TOKEN_PREFIX.user) || token.length > 200)
    throw new AirlockError('unauthorized', 'missing or malformed API token');
  const handle = executor(db);
  const [found] = await handle
    .select({
      tokenId: apiTokens.id,
      revokedAt: apiTokens.revokedAt,
      lastUsedAt: apiTokens.lastUsedAt,
      ...userColumns,
    })
    .from(apiTokens)
    .innerJoin(users, eq(users.id, apiTokens.userId))
    .where(eq(apiTokens.tokenHash, hashToken(token)))
    .limit(1);
  if (!found || found.revokedAt) throw new AirlockError('unauthorized', 'unknown or revoked API token');
  if (found.disabled) throw new AirlockError('unauthorized', 'this account is disabled');
  const { tokenId, revokedAt: _revoked, lastUsedAt, ...user } = found;
  if (!lastUsedAt || Date.now() - lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
    // conditional, so concurrent requests from one script write the row once
    await handle
      .update(apiTokens)
      .set({ lastUsedAt: sql`now()` })
      .where(and(eq(apiTokens.id, tokenId), or(isNull(apiTokens.lastUsedAt), lt(apiTokens.lastUsedAt, sql`now() - interval '1 minute'`))));
  }
  return { ...user, tokenId };
}
