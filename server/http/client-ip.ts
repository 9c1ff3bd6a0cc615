import type { IncomingMessage } from 'node:http';

/** Set by Airlock's server on every console request: the client's address, as far as it can be known. */
export const CLIENT_IP_HEADER = 'x-airlock-client-ip';

/**
 * Record who is asking, for the audit log and sign-in throttling. `X-Forwarded-For` is the
 * client's to write, so it counts only behind a reverse proxy the operator declares
 * (`AIRLOCK_TRUST_PROXY=1`), whose own entry, the last, is the address it saw; otherwise the
 * connection's address is used. A value the client sent under this header's name is replaced.
 */
export function stampClientIp(req: IncomingMessage, trustProxy: boolean): void {
  const forwarded = req.headers['x-forwarded-for'];
  const last = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? '')).split(',').at(-1)?.trim();
  const address = trustProxy && last ? last : req.socket.remoteAddress;
  if (address) req.headers[CLIENT_IP_HEADER] = address.slice(0, 100);
  else delete req.headers[CLIENT_IP_HEADER];
}
