import { randomUUID } from 'node:crypto';
import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Executor } from '../../db/database';
import { agents, type Role, users } from '../../db/schema';
import { type AuditActor, type AuditInput, appendAudit } from '../audit/append';
import { AirlockError } from '../lib/errors';
import { stopAgent } from './agents';
import { type DatabaseOrExecutor, executor, inTransaction } from './executor';
import { dummyPasswordHash, hashPassword, verifyPassword } from './passwords';
import { parseInput, type UserRef, ZActor, ZDisplayName, ZEmail, ZPassword, ZRole } from './validation';

type UserRow = typeof users.$inferSelect;

/** A user as the rest of the app sees it: never the password hash. */
export type User = Omit<UserRow, 'passwordHash'>;

/** The columns of a `User`: select these, never the row, so the hash stays in the database. */
export const userColumns = {
  id: users.id,
  email: users.email,
  name: users.name,
  role: users.role,
  disabled: users.disabled,
  sessionsValidAfter: users.sessionsValidAfter,
  createdAt: users.createdAt,
};

const SYSTEM: AuditActor = { type: 'system' };

/**
 * Serializes role and status changes across processes, so two admins demoting each other
 * at once cannot leave nobody able to administer Airlock.
 */
const USER_ADMIN_LOCK = 0x75736572; // "user"

function withoutHash({ passwordHash: _, ...user }: UserRow): User {
  return user;
}

const ZUserRefFields = {
  userId: z.string().min(1).optional(),
  email: ZEmail.optional(),
  actor: ZActor.optional(),
};
const exactlyOneRef = (v: { userId?: string; email?: string }) => (v.userId === undefined) !== (v.email === undefined);
const oneRefMessage = { message: 'give exactly one of userId or email' };

async function lockUser(tx: Executor, ref: { userId?: string; email?: string }): Promise<UserRow> {
  const where = ref.userId !== undefined ? eq(users.id, ref.userId) : eq(users.email, ref.email ?? '');
  // `no key update`: a concurrent vote references the user (KEY SHARE) while holding its request; FOR UPDATE would deadlock with it
  const [row] = await tx.select().from(users).where(where).for('no key update');
  if (!row) throw new AirlockError('not_found', `no user ${ref.userId ?? ref.email}`);
  return row;
}

/** Refuse a change that would leave no enabled admin (the caller holds USER_ADMIN_LOCK). */
async function assertAnotherAdmin(tx: Executor, userId: string): Promise<void> {
  const admins = await tx
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.role, 'admin'), eq(users.disabled, false)));
  if (!admins.some((admin) => admin.id !== userId))
    throw new AirlockError('conflict', 'this is the last enabled admin: make someone else admin first');
}

export const ZCreateUser = z.object({
  email: ZEmail,
  role: ZRole,
  /** Absent for people who only sign in through OIDC. */
  password: ZPassword.optional(),
  name: ZDisplayName.optional(),
  actor: ZActor.optional(),
});
export type CreateUserOptions = z.input<typeof ZCreateUser> & { actor?: AuditActor };

/** Create a user (email lower-cased), audited `user.created` in the same transaction. */
export async function createUser(db: DatabaseOrExecutor, options: CreateUserOptions): Promise<User> {
  const input = parseInput(ZCreateUser, options);
  // scrypt is slow on purpose: hash before the transaction so no lock waits on it
  const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
  return inTransaction(db, async (tx) => {
    const [user] = await tx
      .insert(users)
      .values({ id: randomUUID(), email: input.email, name: input.name ?? null, role: input.role, passwordHash })
      .onConflictDoNothing({ target: users.email })
      .returning(userColumns);
    if (!user) throw new AirlockError('conflict', `a user with email ${input.email} already exists`);
    await appendAudit(tx, {
      type: 'user.created',
      actor: input.actor ?? SYSTEM,
      payload: { userId: user.id, email: user.email, name: user.name, role: user.role, password: passwordHash !== null },
    });
    return user;
  });
}

const ZSetUserRole = z.object({ ...ZUserRefFields, role: ZRole }).refine(exactlyOneRef, oneRefMessage);
export type SetUserRoleOptions = UserRef & { role: Role; actor?: AuditActor };

/** Change a user's role, audited `user.role_changed` (no event when the role is unchanged). */
export async function setUserRole(db: DatabaseOrExecutor, options: SetUserRoleOptions): Promise<User> {
  const input = parseInput(ZSetUserRole, options);
  return inTransaction(db, async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${USER_ADMIN_LOCK})`);
    const row = await lockUser(tx, input);
    if (row.role === input.role) return withoutHash(row);
    if (row.role === 'admin' && !row.disabled) await assertAnotherAdmin(tx, row.id);
    const [user] = await tx.update(users).set({ role: input.role }).where(eq(users.id, row.id)).returning(userColumns);
    await appendAudit(tx, {
      type: 'user.role_changed',
      actor: input.actor ?? SYSTEM,
      payload: { userId: row.id, email: row.email, from: row.role, to: input.role },
    });
    return user;
  });
}

const ZSetUserDisabled = z.object({ ...ZUserRefFields, disabled: z.boolean() }).refine(exactlyOneRef, oneRefMessage);
export type SetUserDisabledOptions = UserRef & { disabled: boolean; actor?: AuditActor };

/**
 * Disable or re-enable a user, audited `user.disabled` / `user.enabled`. A disabled user's
 * sessions and API tokens stop working at their next request, since both re-read the row.
 */
export async function setUserDisabled(db: DatabaseOrExecutor, options: SetUserDisabledOptions): Promise<User> {
  const input = parseInput(ZSetUserDisabled, options);
  return inTransaction(db, async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${USER_ADMIN_LOCK})`);
    const row = await lockUser(tx, input);
    if (row.disabled === input.disabled) return withoutHash(row);
    if (input.disabled && row.role === 'admin') await assertAnotherAdmin(tx, row.id);
    const [user] = await tx.update(users).set({ disabled: input.disabled }).where(eq(users.id, row.id)).returning(userColumns);
    const actor = input.actor ?? SYSTEM;
    const events: AuditInput[] = [
      { type: input.disabled ? 'user.disabled' : 'user.enabled', actor, payload: { userId: row.id, email: row.email } },
    ];
    if (input.disabled) {
      // an agent answers to its owner: the owner's agents stop with them (sessions closed, held calls cancelled)
      const owned = await tx
        .select({ id: agents.id })
        .from(agents)
        .where(and(eq(agents.ownerId, row.id), isNull(agents.revokedAt)));
      for (const agent of owned)
        events.push(...(await stopAgent(tx, { agentId: agent.id, reason: "the agent's owner was disabled", actor })));
    }
    // appended last: every row this changes is locked before the audit chain is
    await appendAudit(tx, events);
    return user;
  });
}

const ZResetPassword = z.object({ ...ZUserRefFields, password: ZPassword }).refine(exactlyOneRef, oneRefMessage);
export type ResetPasswordOptions = UserRef & { password: string; actor?: AuditActor };

/** Set a new password, audited `user.password_reset` (the event never holds the password). */
export async function resetPassword(db: DatabaseOrExecutor, options: ResetPasswordOptions): Promise<User> {
  const input = parseInput(ZResetPassword, options);
  const passwordHash = await hashPassword(input.password);
  return inTransaction(db, async (tx) => {
    const row = await lockUser(tx, input);
    // a new password ends the sessions signed in with the old one
    const [user] = await tx
      .update(users)
      .set({ passwordHash, sessionsValidAfter: new Date() })
      .where(eq(users.id, row.id))
      .returning(userColumns);
    await appendAudit(tx, {
      type: 'user.password_reset',
      actor: input.actor ?? SYSTEM,
      payload: { userId: row.id, email: row.email },
    });
    return user;
  });
}

/** The user with this email (compared lower-cased), or null. */
export async function findUserByEmail(db: DatabaseOrExecutor, { email }: { email: string }): Promise<User | null> {
  const [user] = await executor(db).select(userColumns).from(users).where(eq(users.email, email.trim().toLowerCase())).limit(1);
  return user ?? null;
}

/** The user with this id, or null. */
export async function findUserById(db: DatabaseOrExecutor, { userId }: { userId: string }): Promise<User | null> {
  const [user] = await executor(db).select(userColumns).from(users).where(eq(users.id, userId)).limit(1);
  return user ?? null;
}

/** Every user, by email. */
export async function listUsers(db: DatabaseOrExecutor): Promise<User[]> {
  return executor(db).select(userColumns).from(users).orderBy(asc(users.email));
}

/** Where a sign-in came from, for the audit event; both are untrusted and truncated. */
export type SignInClient = { ip?: string | null; userAgent?: string | null };

export type AuthenticatePasswordOptions = { email: string; password: string; client?: SignInClient };

export type SignInFailure = 'invalid_input' | 'throttled' | 'unknown_email' | 'no_password' | 'wrong_password' | 'disabled';

/**
 * Check an email and password. Every attempt is audited (`auth.sign_in` or
 * `auth.sign_in_failed` with the email and a reason, never the password). An unknown
 * email costs one scrypt like a wrong password, so timing does not reveal who has an account.
 */
export async function authenticatePassword(
  db: DatabaseOrExecutor,
  { email, password, client }: AuthenticatePasswordOptions,
): Promise<User | null> {
  const normalized = typeof email === 'string' ? email.trim().toLowerCase().slice(0, 320) : '';
  const parsedPassword = ZPassword.safeParse(password);
  let row: UserRow | undefined;
  let failure: SignInFailure | null = null;
  if (normalized === '' || !parsedPassword.success) {
    failure = 'invalid_input';
  } else if (throttled(normalized, client?.ip)) {
    // online guessing: after 10 failures in 15 minutes from one address (100 from all) an account
    // takes no more attempts from it for a while
    failure = 'throttled';
  } else {
    [row] = await executor(db).select().from(users).where(eq(users.email, normalized)).limit(1);
    const matches = await verifyPassword(parsedPassword.data, row?.passwordHash ?? (await dummyPasswordHash()));
    if (!row) failure = 'unknown_email';
    else if (!row.passwordHash) failure = 'no_password';
    else if (!matches) failure = 'wrong_password';
    else if (row.disabled) failure = 'disabled';
  }
  const context = {
    email: normalized,
    method: 'password',
    ip: client?.ip?.slice(0, 100) ?? null,
    userAgent: client?.userAgent?.slice(0, 300) ?? null,
  };
  await inTransaction(db, (tx) =>
    appendAudit(
      tx,
      failure
        ? { type: 'auth.sign_in_failed', actor: { type: 'user', id: row?.id ?? null }, payload: { ...context, reason: failure } }
        : { type: 'auth.sign_in', actor: { type: 'user', id: row?.id ?? null }, payload: context },
    ),
  );
  if (failure && failure !== 'invalid_input' && failure !== 'throttled') recordFailure(normalized, client?.ip);
  return failure || !row ? null : withoutHash(row);
}

const FAILURE_WINDOW_MS = 15 * 60_000;
/** Failures from one address before an account stops taking its attempts: a guesser is stopped, not its owner elsewhere. */
const MAX_FAILURES = 10;
/** Failures from all addresses together: guessing spread over many addresses is bounded too. */
const MAX_FAILURES_ANYWHERE = 100;
const MAX_TRACKED = 10_000;
/** Recent failed sign-ins, per email and per email and address, in this process (bounded). */
const failures = new Map<string, number[]>();

const keysOf = (email: string, ip: string | null | undefined) => [`${email}`, `${email}\u0000${ip ?? '?'}`];

function recent(key: string): number[] {
  const cutoff = Date.now() - FAILURE_WINDOW_MS;
  const list = (failures.get(key) ?? []).filter((at) => at > cutoff);
  if (list.length === 0) failures.delete(key);
  else failures.set(key, list);
  return list;
}

function throttled(email: string, ip: string | null | undefined): boolean {
  const [anywhere, here] = keysOf(email, ip);
  return recent(here).length >= MAX_FAILURES || recent(anywhere).length >= MAX_FAILURES_ANYWHERE;
}

function recordFailure(email: string, ip: string | null | undefined): void {
  for (const key of keysOf(email, ip)) {
    const list = [...recent(key), Date.now()];
    // last touched goes last: when full, the entries nobody touched for longest go first (never all at
    // once, which let junk attempts at unknown emails wipe a real account's count)
    failures.delete(key);
    failures.set(key, list.slice(-MAX_FAILURES_ANYWHERE));
  }
  for (const key of failures.keys()) {
    if (failures.size <= MAX_TRACKED) break;
    failures.delete(key);
  }
}
