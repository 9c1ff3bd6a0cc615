import { headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { cache } from 'react';
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
  const user = await currentUser();
  if (!user) redirect(`/signin?callbackUrl=${encodeURIComponent(returnTo)}`);
  return user;
}

/**
 * Read once per request: the layouts and the page each ask (so none can forget), and React's
 * `cache` lets them share one database read instead of two or three per render.
 */
const currentUser = cache(async (): Promise<SessionUser | null> => {
  const request = new Request('http://console.local/', { headers: await headers() });
  try {
    return await authenticateRequest(db(), request, sessionSecret());
  } catch (error) {
    if (!isAirlockError(error) || error.code !== 'unauthorized') throw error;
    return null;
  }
});

/** Whether the user may do something; pages hide controls with it, route handlers still check. */
export function allowed(user: SessionUser, permission: Permission): boolean {
  return can(user.role, permission);
}
