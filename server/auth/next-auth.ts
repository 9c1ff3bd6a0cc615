import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { NextAuthOptions, Session } from 'next-auth';
import type { CredentialsConfig } from 'next-auth/providers/credentials';
import type { OAuthConfig } from 'next-auth/providers/oauth';
import type { Database } from '../../db/database';
import { appendAudit } from '../audit/append';
import { CLIENT_IP_HEADER } from '../http/client-ip';
import { AirlockError } from '../lib/errors';
import { type DatabaseOrExecutor, inTransaction } from './executor';
import { SECURE_SESSION_COOKIE, SESSION_COOKIE, type SessionUser, sessionOutlived, toSessionUser } from './session';
import { authenticatePassword, findUserByEmail, findUserById, type SignInClient, type User } from './users';

/** Short sessions: a stolen cookie is worth little for long, and reviewers re-authenticate daily. */
export const SESSION_MAX_AGE_SECONDS = 8 * 3600;
export const OIDC_PROVIDER_ID = 'oidc';
const MIN_SECRET_LENGTH = 32;

export type AuthSecretOptions = {
  env?: Record<string, string | undefined>;
  /** Where to keep the generated secret (default AIRLOCK_DATA_DIR, else `.airlock`). */
  dataDir?: string;
  /** Told when a generated secret is used on PostgreSQL, where instances may not share it. */
  warn?: (message: string) => void;
};

/**
 * NEXTAUTH_SECRET if set (null if not); throws if it is too short. Airlock checks it at start,
 * so a bad one stops it there instead of failing every console request.
 */
export function configuredAuthSecret(env: Record<string, string | undefined> = process.env): string | null {
  const configured = env.NEXTAUTH_SECRET;
  if (configured === undefined || configured === '') return null;
  if (configured.length < MIN_SECRET_LENGTH)
    throw new AirlockError('internal', `NEXTAUTH_SECRET must be at least ${MIN_SECRET_LENGTH} characters (try: openssl rand -base64 32)`);
  return configured;
}

/** Generated secrets by file (or `memory://`), read once per process: route handlers ask on every request. */
const generatedSecrets = new Map<string, string>();
let warnedSharedSecret = false;

/**
 * The key that encrypts session cookies: NEXTAUTH_SECRET when set (at least 32
 * characters), otherwise a random secret generated once and kept in
 * `<data dir>/auth-secret` (mode 0600), so sessions survive a restart without setup.
 * Cheap to call per request: a generated secret is read from disk once per process.
 *
 * Several instances sharing one PostgreSQL database must all be given the same
 * NEXTAUTH_SECRET: a generated secret lives on one machine's disk, and a session
 * issued by one instance would be refused by the others.
 */
export function authSecret(db: Pick<Database, 'kind'>, options: AuthSecretOptions = {}): string {
  const env = options.env ?? process.env;
  const configured = configuredAuthSecret(env);
  if (configured !== null) return configured;
  if (db.kind === 'postgres' && (options.warn || !warnedSharedSecret)) {
    warnedSharedSecret = true;
    (options.warn ?? console.warn)(
      'NEXTAUTH_SECRET is not set: using a secret generated on this machine; every instance sharing the database must be given the same NEXTAUTH_SECRET',
    );
  }
  const dataDir = options.dataDir ?? env.AIRLOCK_DATA_DIR ?? '.airlock';
  // the data dir is chosen at run time: tell Turbopack not to trace the whole project from here
  const file =
    dataDir === 'memory://' ? dataDir : join(/*turbopackIgnore: true*/ resolve(/*turbopackIgnore: true*/ dataDir), 'auth-secret');
  let secret = generatedSecrets.get(file);
  if (!secret) {
    secret = dataDir === 'memory://' ? randomBytes(32).toString('base64url') : readOrCreateSecret(file);
    generatedSecrets.set(file, secret);
  }
  return secret;
}

function readOrCreateSecret(file: string): string {
  mkdirSync(dirname(/*turbopackIgnore: true*/ file), { recursive: true });
  try {
    // `wx`: never overwrite a secret another process just wrote (that would sign everyone out)
    writeFileSync(file, randomBytes(32).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const secret = readFileSync(file, 'utf8').trim();
  if (secret.length < MIN_SECRET_LENGTH)
    throw new AirlockError('internal', `${file} holds no usable secret: delete it to generate a new one`);
  return secret;
}

/** Claims Airlock reads from an OIDC ID token. */
export type OidcProfile = { sub: string; email?: string; email_verified?: boolean; name?: string; preferred_username?: string };

export type OidcSignInOptions = {
  issuer: string;
  subject: string;
  email?: string | null;
  emailVerified?: boolean;
  /**
   * Accept an ID token without an `email_verified` claim (some providers never send one).
   * Off by default: matching an unverified email to an account lets whoever controls that
   * address at the provider sign in as its owner.
   */
  trustUnverifiedEmail?: boolean;
  client?: SignInClient;
};

/**
 * Whether an OIDC identity may sign in: only as an existing, enabled user with the same
 * email (the identity provider proves the email; Airlock decides the role). Audited
 * `auth.sign_in` or `auth.sign_in_failed`.
 */
export async function authorizeOidcSignIn(db: DatabaseOrExecutor, options: OidcSignInOptions): Promise<User | null> {
  const email = (options.email ?? '').trim().toLowerCase().slice(0, 320);
  const verified = options.emailVerified === true || (options.emailVerified === undefined && options.trustUnverifiedEmail === true);
  const user = email && verified ? await findUserByEmail(db, { email }) : null;
  const reason = !email ? 'no_email' : !verified ? 'email_not_verified' : !user ? 'unknown_email' : user.disabled ? 'disabled' : null;
  const payload = {
    email,
    method: 'oidc',
    issuer: options.issuer,
    subject: options.subject.slice(0, 300),
    ip: options.client?.ip?.slice(0, 100) ?? null,
    userAgent: options.client?.userAgent?.slice(0, 300) ?? null,
  };
  await inTransaction(db, (tx) =>
    appendAudit(
      tx,
      reason
        ? { type: 'auth.sign_in_failed', actor: { type: 'user', id: user?.id ?? null }, payload: { ...payload, reason } }
        : { type: 'auth.sign_in', actor: { type: 'user', id: user?.id ?? null }, payload },
    ),
  );
  return reason ? null : user;
}

function header(headers: Record<string, unknown> | undefined, name: string): string | null {
  const value = headers?.[name];
  return typeof value === 'string' ? value : Array.isArray(value) ? String(value[0]) : null;
}

export type AuthOptionsConfig = {
  env?: Record<string, string | undefined>;
  /** Overrides `authSecret` (tests). */
  secret?: string;
};

/**
 * next-auth (v4) options for the console: email and password, plus OIDC single sign-on
 * when AIRLOCK_OIDC_ISSUER, AIRLOCK_OIDC_CLIENT_ID and AIRLOCK_OIDC_CLIENT_SECRET are set.
 * JWT sessions of 8 hours hold only the user id; the session callback re-reads the user,
 * and a disabled or deleted user's session is cleared. `getDb` is called per request, so
 * the options can be built before the runtime starts.
 */
export function authOptions(getDb: () => Database, config: AuthOptionsConfig = {}): NextAuthOptions {
  const env = config.env ?? process.env;
  const secure = (env.AIRLOCK_PUBLIC_URL ?? env.NEXTAUTH_URL ?? '').startsWith('https://');
  let secret = config.secret;

  const credentials: CredentialsConfig = {
    id: 'credentials',
    name: 'Email and password',
    type: 'credentials',
    credentials: {
      email: { label: 'Email', type: 'email' },
      password: { label: 'Password', type: 'password' },
    },
    async authorize(input, req) {
      const user = await authenticatePassword(getDb(), {
        email: input?.email ?? '',
        password: input?.password ?? '',
        client: { ip: header(req?.headers, CLIENT_IP_HEADER), userAgent: header(req?.headers, 'user-agent') },
      });
      return user ? { id: user.id, email: user.email, name: user.name } : null;
    },
  };

  const issuer = env.AIRLOCK_OIDC_ISSUER?.replace(/\/+$/, '');
  const oidc: OAuthConfig<OidcProfile> | null =
    issuer && env.AIRLOCK_OIDC_CLIENT_ID && env.AIRLOCK_OIDC_CLIENT_SECRET
      ? {
          id: OIDC_PROVIDER_ID,
          name: env.AIRLOCK_OIDC_NAME || 'Single sign-on',
          type: 'oauth',
          wellKnown: `${issuer}/.well-known/openid-configuration`,
          clientId: env.AIRLOCK_OIDC_CLIENT_ID,
          clientSecret: env.AIRLOCK_OIDC_CLIENT_SECRET,
          idToken: true,
          checks: ['pkce', 'state'],
          authorization: { params: { scope: 'openid email profile' } },
          profile: (profile) => ({
            id: profile.sub,
            email: profile.email ?? null,
            name: profile.name ?? profile.preferred_username ?? null,
          }),
        }
      : null;

  return {
    providers: oidc ? [credentials, oidc] : [credentials],
    session: { strategy: 'jwt', maxAge: SESSION_MAX_AGE_SECONDS },
    jwt: { maxAge: SESSION_MAX_AGE_SECONDS },
    pages: { signIn: '/signin' },
    useSecureCookies: secure,
    cookies: {
      sessionToken: {
        name: secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE,
        // lax: sent on top-level navigation (links in notifications) but not on cross-site POSTs
        options: { httpOnly: true, sameSite: 'lax', path: '/', secure },
      },
    },
    // read on each request, not at build time: the runtime (and its data dir) may not exist yet
    get secret() {
      secret ??= authSecret(getDb(), { env });
      return secret;
    },
    callbacks: {
      async signIn({ account, profile }) {
        // credentials were checked (and audited) by authorize
        if (account?.provider !== OIDC_PROVIDER_ID) return true;
        const claims = profile as Partial<OidcProfile> | undefined;
        const user = await authorizeOidcSignIn(getDb(), {
          issuer: issuer ?? '',
          subject: String(claims?.sub ?? ''),
          email: claims?.email,
          emailVerified: claims?.email_verified,
          trustUnverifiedEmail: env.AIRLOCK_OIDC_TRUST_UNVERIFIED_EMAIL === '1',
        });
        return user !== null;
      },
      async jwt({ token, user, account }) {
        if (!user) return { sub: token.sub };
        // an OIDC user's id is the provider's subject: map it to the Airlock user by email
        if (account?.provider === OIDC_PROVIDER_ID) {
          const found = await findUserByEmail(getDb(), { email: user.email ?? '' });
          if (!found) throw new AirlockError('unauthorized', 'no Airlock user for this identity');
          return { sub: found.id };
        }
        return { sub: user.id };
      },
      async session({ session, token }) {
        // role and status come from the database, never from the cookie (invariant 4);
        // throwing makes next-auth clear the session cookie
        const user = token.sub ? await findUserById(getDb(), { userId: token.sub }) : null;
        if (!user || user.disabled) throw new AirlockError('unauthorized', 'this account is disabled or no longer exists');
        if (sessionOutlived(user, typeof token.iat === 'number' ? token.iat : 0)) {
          throw new AirlockError('unauthorized', 'your password was reset; sign in again');
        }
        const result: Session & { user: SessionUser } = { expires: session.expires, user: toSessionUser(user) };
        return result;
      },
    },
    events: {
      async signOut({ token }) {
        const userId = typeof token?.sub === 'string' ? token.sub : null;
        if (!userId) return;
        await inTransaction(getDb(), (tx) => appendAudit(tx, { type: 'auth.sign_out', actor: { type: 'user', id: userId }, payload: {} }));
      },
    },
  };
}
