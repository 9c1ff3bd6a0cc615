const BASE = 'http://airlock.invalid';

/**
 * A sign-in's `callbackUrl` as a path on this site, or `/`. Browsers read `/\evil.example`
 * and `/<TAB>/evil.example` as `//evil.example`, another site: an open redirect would let a
 * link send a reviewer anywhere once signed in, so anything but a plain local path is dropped.
 */
export function localPath(value: string | undefined): string {
  // backslashes and control characters (which URL parsers strip) are how such paths hide
  if (!value?.startsWith('/') || /[\\\p{Cc}]/u.test(value)) return '/';
  let url: URL;
  try {
    url = new URL(value, BASE);
  } catch {
    return '/';
  }
  // resolving dot segments can make one: `/.//evil.example` becomes `//evil.example`, another site
  if (url.origin !== BASE || url.pathname.startsWith('//')) return '/';
  return `${url.pathname}${url.search}${url.hash}`;
}
