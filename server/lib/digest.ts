import { createHash, randomBytes } from 'node:crypto';
import canonicalize from 'canonicalize';

/** RFC 8785 (JCS) canonical JSON; `undefined` becomes null so every value has a digest. */
export function canonicalJson(value: unknown): string {
  return canonicalize(value ?? null) ?? 'null';
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** SHA-256 of the RFC 8785 canonical JSON of a value: what an approval binds to (invariant 2). */
export function digest(value: unknown): string {
  return sha256(canonicalJson(value));
}

/** A random secret token with a recognisable prefix, e.g. `alk_agent_…`. */
export function newToken(kind: 'agent' | 'user'): string {
  return `alk_${kind}_${randomBytes(24).toString('base64url')}`;
}

/** Tokens are stored as SHA-256: they are random and long, so a slow hash adds nothing. */
export function hashToken(token: string): string {
  return sha256(token);
}
