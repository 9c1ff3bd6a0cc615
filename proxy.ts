import { type NextRequest, NextResponse } from 'next/server';

/**
 * Security headers for every console response: a per-request nonce lets Next's own
 * scripts run while inline scripts injected through untrusted text cannot (invariant 8).
 * This file may redirect, never protect (invariant 7): pages and route handlers check
 * the session themselves.
 */
export function proxy(request: NextRequest) {
  const nonce = btoa(crypto.randomUUID());
  const dev = process.env.NODE_ENV !== 'production';
  const csp = [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${dev ? " 'unsafe-eval'" : ''}`,
    // React sets style attributes; styles cannot run code
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
  const headers = new Headers(request.headers);
  headers.set('x-nonce', nonce);
  // Next reads the policy from the request to put the nonce on the scripts it renders
  headers.set('content-security-policy', csp);
  const response = NextResponse.next({ request: { headers } });
  response.headers.set('content-security-policy', csp);
  return response;
}

export const config = {
  // pages only: API responses are JSON and static assets carry their own headers (next.config.js)
  matcher: [{ source: '/((?!api/|_next/static|_next/image|icons/|manifest.webmanifest|sw.js).*)' }],
};
