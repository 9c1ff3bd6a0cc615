import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { AuditActor } from '../audit/append';
import { ZUpstreamName } from '../config/schema';
import { AirlockError, isAirlockError } from '../lib/errors';
import { type Agent, createAgent } from './agents';
import { type ApiToken, createApiToken } from './api-tokens';
import { type DatabaseOrExecutor, inTransaction } from './executor';
import { createUser, findUserByEmail, findUserById, resetPassword, setUserDisabled, setUserRole, type User } from './users';
import { ZDisplayName, ZEmail, ZLabel, ZPassword, ZRole } from './validation';

/**
 * What the console's admin pages do with users and agents, on top of the domain functions
 * in users.ts and agents.ts: one-time passwords, combined updates in one transaction, the
 * self-lockout guard, and agent upstreams checked against the configuration.
 */

/** A random one-time password (24 base64url characters, 144 bits), shown once to the admin. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

/** POST /api/users: no password means "invite": Airlock generates one and returns it once. */
export const ZAdminCreateUser = z
  .object({ email: ZEmail, role: ZRole, name: ZDisplayName.optional(), password: ZPassword.optional() })
  .strict();

/** PATCH /api/users/:id */
export const ZAdminUpdateUser = z
  .object({ role: ZRole.optional(), disabled: z.boolean().optional() })
  .strict()
  .refine((v) => v.role !== undefined || v.disabled !== undefined, { message: 'give role, disabled, or both' });

/** POST /api/users/:id/password: `{}` generates a new random password, `{ password }` sets that one. */
export const ZAdminResetPassword = z.object({ password: ZPassword.optional() }).strict();

/** POST /api/agents */
export const ZAdminCreateAgent = z
  .object({
    name: ZLabel,
    ownerEmail: ZEmail,
    /** Upstreams the agent may reach; empty means all of them (including ones configured later). */
    upstreams: z.array(ZUpstreamName).max(100).default([]),
  })
  .strict();

/** POST /api/tokens: a personal API token for a script, acting as that person with their role. */
export const ZAdminCreateToken = z.object({ userEmail: ZEmail, name: ZLabel.default('api') }).strict();

type Actor = { actor: AuditActor };

export type AdminCreateUserOptions = z.output<typeof ZAdminCreateUser> & Actor;

/**
 * Create a user; without a password, generate one. The generated password is returned once
 * (`password`), never stored in clear nor audited; a chosen password is never echoed back.
 */
export async function createUserWithPassword(
  db: DatabaseOrExecutor,
  { password, ...options }: AdminCreateUserOptions,
): Promise<{ user: User; password?: string }> {
  const generated = password === undefined ? generatePassword() : undefined;
  const user = await createUser(db, { ...options, password: password ?? generated });
  return generated === undefined ? { user } : { user, password: generated };
}

export type UpdateUserOptions = z.output<typeof ZAdminUpdateUser> & {
  userId: string;
  /** The admin making the change: they may not disable their own account. */
  actingUserId: string;
  actor: AuditActor;
};

/**
 * Change a user's role and/or status in one transaction (each change audited by the domain).
 * Refuses disabling one's own account (the session would end mid-action with nobody the
 * wiser); the domain refuses demoting or disabling the last enabled admin.
 */
export async function updateUser(
  db: DatabaseOrExecutor,
  { userId, actingUserId, role, disabled, actor }: UpdateUserOptions,
): Promise<User> {
  if (disabled === true && userId === actingUserId)
    throw new AirlockError('conflict', 'you cannot disable your own account: ask another admin');
  return inTransaction(db, async (tx) => {
    let user = await findUserById(tx, { userId });
    if (!user) throw new AirlockError('not_found', `no user ${userId}`);
    if (role !== undefined) user = await setUserRole(tx, { userId, role, actor });
    if (disabled !== undefined) user = await setUserDisabled(tx, { userId, disabled, actor });
    return user;
  });
}

export type SetPasswordOptions = z.output<typeof ZAdminResetPassword> & { userId: string; actor: AuditActor };

/** Reset a user's password to the given one or a generated one (returned once). */
export async function setPassword(
  db: DatabaseOrExecutor,
  { userId, password, actor }: SetPasswordOptions,
): Promise<{ user: User; password?: string }> {
  const generated = password === undefined ? generatePassword() : undefined;
  const user = await resetPassword(db, { userId, password: password ?? (generated as string), actor });
  return generated === undefined ? { user } : { user, password: generated };
}

export type RegisterAgentOptions = z.output<typeof ZAdminCreateAgent> & {
  /** The upstream names in the running configuration. */
  configured: readonly string[];
  actor: AuditActor;
};

/**
 * Create an agent from the console: every upstream must be configured and the owner must
 * exist (both are the caller's input, so a miss is `bad_request`). Returns the token once.
 */
export async function registerAgent(
  db: DatabaseOrExecutor,
  { name, ownerEmail, upstreams, configured, actor }: RegisterAgentOptions,
): Promise<{ agent: Agent; token: string }> {
  const unknown = upstreams.filter((upstream) => !configured.includes(upstream));
  if (unknown.length > 0)
    throw new AirlockError(
      'bad_request',
      `unknown upstream${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (configured: ${configured.join(', ') || 'none'})`,
    );
  const owner = await findUserByEmail(db, { email: ownerEmail });
  if (!owner) throw new AirlockError('bad_request', `no user with email ${ownerEmail} (the agent's owner must be a user)`);
  return createAgent(db, { name, ownerEmail, upstreams, actor });
}

export type IssueApiTokenOptions = z.output<typeof ZAdminCreateToken> & { actor: AuditActor };

/** Mint a personal API token from the console: the user is the caller's input, so a miss is `bad_request`. Returns the secret once. */
export async function issueApiToken(
  db: DatabaseOrExecutor,
  { userEmail, name, actor }: IssueApiTokenOptions,
): Promise<{ token: ApiToken & { userEmail: string }; secret: string }> {
  try {
    const { token, apiToken } = await createApiToken(db, { userEmail, name, actor });
    // ZEmail gave the address as stored: trimmed, lower-cased
    return { token: { ...apiToken, userEmail }, secret: token };
  } catch (error) {
    if (isAirlockError(error) && error.code === 'not_found') throw new AirlockError('bad_request', error.message);
    throw error;
  }
}
