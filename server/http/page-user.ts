import { headers } from 'next/headers';
import { redirect } from 'next/navigation';
import type { Permission } from '../auth/permissions';
import { can } from '../auth/permissions';
import { authenticateRequest, type SessionUser } from '../auth/session';
import { isAirlockError } from '../lib/errors';
import { db } from '../runtime';
import { sessionSecret } from './route';

/**
 * The signed-in user for a server component, re-read from the database (invariant 7:
 * pages check for themselves; proxy.ts only redirects). No session → the sign-in page.
 */
export async function requirePageUser(returnTo = '/'): Promise<SessionUser> {
  const request = new Request('http://console.local/', { headers: await headers() });
  let user: SessionUser | null = null;
  try {
    user = await authenticateRequest(db(), request, sessionSecret());
  } catch (error) {
    if (!isAirlockError(error) || error.code !== 'unauthorized') throw error;
  }
  if (!user) redirect(`/signin?callbackUrl=${encodeURIComponent(returnTo)}`);
  return user;
}

/** Whether the user may do something; pages hide controls with it, route handlers still check. */
export function allowed(user: SessionUser, permission: Permission): boolean {
  return can(user.role, permission);
}
