import { createHash, randomBytes } from 'node:crypto';
import canonicalize from 'canonicalize';

/** A value RFC 8785 cannot represent: a lone surrogate, a number JSON has no text for, or nesting past the stack. */
export class NotCanonicalError extends Error {
  override name = 'NotCanonicalError';
}

/**
 * RFC 8785 (JCS) canonical JSON; `undefined` becomes null so every value has a digest. Throws
 * NotCanonicalError, with the reason, for a value it cannot represent (JSON from an agent or an
 * upstream can carry `"\ud800"` or `1e999`, which parses to Infinity).
 */
export function canonicalJson(value: unknown): string {
  try {
    return canonicalize(value ?? null) ?? 'null';
  } catch (error) {
    const reason = error instanceof RangeError ? 'it is nested too deeply' : (error as Error).message;
    throw new NotCanonicalError(`not representable as RFC 8785 canonical JSON (${reason})`);
  }
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** SHA-256 of the RFC 8785 canonical JSON of a value: what an approval binds to (invariant 2). */
export function digest(value: unknown): string {
  return sha256(canonicalJson(value));
}

/** How each kind of token starts: an agent's for /mcp, a person's for the JSON API. */
export const TOKEN_PREFIX = { agent: 'alk_agent_', user: 'alk_user_' } as const;

/** A random secret token with a recognisable prefix, e.g. `alk_agent_…`. */
export function newToken(kind: keyof typeof TOKEN_PREFIX): string {
  return `${TOKEN_PREFIX[kind]}${randomBytes(24).toString('base64url')}`;
}

/** Tokens are stored as SHA-256: they are random and long, so a slow hash adds nothing. */
export function hashToken(token: string): string {
  return sha256(token);
}
