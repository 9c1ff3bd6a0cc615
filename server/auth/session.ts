import { decode } from 'next-auth/jwt';
import { AirlockError } from '../lib/errors';
import { authenticateApiToken } from './api-tokens';
import type { DatabaseOrExecutor } from './executor';
import { can, type Permission, type Role } from './permissions';
import { findUserById, type User } from './users';

/** The person behind a request, as read from the database at that request; `tokenId` when a personal API token made it. */
/**
 * Who a request is from: `tokenId` when a personal API token carried it, `sessionExpires` (seconds)
 * when a console session cookie did.
 */
export type SessionUser = Pick<User, 'id' | 'email' | 'name' | 'role'> & { tokenId?: string; sessionExpires?: number };

/** next-auth's session cookie: `__Secure-` prefixed when the console is served over https. */
export const SESSION_COOKIE = 'next-auth.session-token';
export const SECURE_SESSION_COOKIE = `__Secure-${SESSION_COOKIE}`;

export function toSessionUser({ id, email, name, role }: SessionUser): SessionUser {
  return { id, email, name, role };
}

function parseCookies(header: string | null): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at < 1) continue;
    const name = part.slice(0, at).trim();
    let value = part.slice(at + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {}
    if (!cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}

/** next-auth splits a large session cookie into `name.0`, `name.1`, …: put it back together. */
function sessionCookieValue(header: string | null): string | null {
  const cookies = parseCookies(header);
  for (const name of [SECURE_SESSION_COOKIE, SESSION_COOKIE]) {
    const whole = cookies.get(name);
    if (whole) return whole;
    const chunks: string[] = [];
    for (let i = 0; cookies.has(`${name}.${i}`); i++) chunks.push(cookies.get(`${name}.${i}`) ?? '');
    if (chunks.length > 0) return chunks.join('');
  }
  return null;
}

/**
 * Who is making this request, for route handlers (invariant 7): a personal API token
 * (`Authorization: Bearer alk_user_…`) or the next-auth session cookie. Either way the
 * user row is read again here, so a disabled user or a changed role takes effect at
 * once. Throws `unauthorized` when there is no valid credential.
 */
export async function authenticateRequest(db: DatabaseOrExecutor, request: Request, secret: string): Promise<SessionUser> {
  const authorization = request.headers.get('authorization');
  if (authorization !== null) {
    // an explicit credential that fails is refused, never silently replaced by a cookie
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!bearer) throw new AirlockError('unauthorized', 'the Authorization header must be "Bearer <API token>"');
    const user = await authenticateApiToken(db, bearer[1]);
    return { ...toSessionUser(user), tokenId: user.tokenId };
  }
  const cookie = sessionCookieValue(request.headers.get('cookie'));
  if (!cookie) throw new AirlockError('unauthorized', 'sign in first');
  // decode checks the encryption and the expiry; a forged or stale cookie yields null or throws
  const token = await decode({ token: cookie, secret }).catch(() => null);
  const userId = typeof token?.sub === 'string' ? token.sub : null;
  if (!userId) throw new AirlockError('unauthorized', 'your session has expired; sign in again');
  const user = await findUserById(db, { userId });
  if (!user || user.disabled) throw new AirlockError('unauthorized', 'this account is disabled or no longer exists');
  if (sessionOutlived(user, typeof token?.iat === 'number' ? token.iat : 0)) {
    throw new AirlockError('unauthorized', 'your password was reset; sign in again');
  }
  return { ...toSessionUser(user), ...(typeof token?.exp === 'number' ? { sessionExpires: token.exp } : {}) };
}

/**
 * Whether a console session issued at `issuedAt` (seconds) ended with a later password reset.
 * Every reader of a session asks: route handlers and pages, next-auth's session callback, and
 * the realtime re-check.
 */
export function sessionOutlived(user: Pick<User, 'sessionsValidAfter'>, issuedAt: number): boolean {
  return user.sessionsValidAfter !== null && issuedAt < Math.floor(user.sessionsValidAfter.getTime() / 1000);
}

/** Throw `forbidden` unless the user's role grants `permission`. */
export function requirePermission(user: { role: Role }, permission: Permission): void {
  if (!can(user.role, permission)) throw new AirlockError('forbidden', `your role (${user.role}) does not allow ${permission}`);
}
