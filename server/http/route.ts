import type { z } from 'zod';
import { authSecret } from '../auth/next-auth';
import type { Permission } from '../auth/permissions';
import { authenticateRequest, requirePermission, type SessionUser } from '../auth/session';
import { describeIssues } from '../auth/validation';
import { AirlockError, isAirlockError } from '../lib/errors';
import { log } from '../lib/log';
import { db, runtime } from '../runtime';

type Schema = z.ZodType | undefined;
type Infer<S extends Schema> = S extends z.ZodType ? z.output<S> : undefined;

export type RouteOptions<B extends Schema, Q extends Schema> = {
  /** Checked against the user's role, read from the database at this request (invariant 7). */
  permission?: Permission;
  body?: B;
  query?: Q;
};

export type RouteArgs<B extends Schema, Q extends Schema> = {
  request: Request;
  user: SessionUser;
  body: Infer<B>;
  query: Infer<Q>;
  params: Record<string, string>;
};

type NextContext = { params: Promise<Record<string, string | string[]>> };

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const MAX_BODY_BYTES = 1024 * 1024;

/** The next-auth secret of this process (NEXTAUTH_SECRET or the generated one). */
export function sessionSecret(): string {
  return authSecret(db());
}

/**
 * Wrap a route handler: authenticate (API token or session cookie), refuse cross-site
 * mutations, check the permission, validate query and body with zod, and map errors to
 * `{ error: { code, message } }` with the right status. Handlers only call the domain.
 */
export function withUser<B extends Schema = undefined, Q extends Schema = undefined>(
  options: RouteOptions<B, Q>,
  handler: (args: RouteArgs<B, Q>) => Promise<Response>,
) {
  return async (request: Request, context: NextContext): Promise<Response> => {
    try {
      const user = await authenticateRequest(db(), request, sessionSecret());
      if (MUTATING.has(request.method) && !request.headers.has('authorization')) assertSameOrigin(request);
      if (options.permission) requirePermission(user, options.permission);
      const query = parse(options.query, readQuery(request), 'query') as Infer<Q>;
      const body = (options.body ? parse(options.body, await readJson(request), 'body') : undefined) as Infer<B>;
      const raw = (await context?.params) ?? {};
      const params = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Array.isArray(v) ? v.join('/') : v]));
      if (Object.values(params).some((v) => v?.includes('\u0000'))) throw new AirlockError('bad_request', `invalid path: ${NUL_TEXT}`);
      return await handler({ request, user, body, query, params });
    } catch (error) {
      return errorResponse(error);
    }
  };
}

function parse(schema: Schema, input: unknown, where: string): unknown {
  if (!schema) return undefined;
  const result = schema.safeParse(input);
  if (!result.success) throw new AirlockError('bad_request', `invalid ${where}: ${describeIssues(result.error)}`);
  return result.data;
}

// PostgreSQL stores no U+0000 in text or jsonb: refused here with a clear message, not a failed statement
const NUL_TEXT = 'text must not contain NUL characters (U+0000)';
/** `\u0000` in JSON text, not preceded by an escaped backslash. */
const ESCAPED_NUL = /(?:^|[^\\])(?:\\\\)*\\u0000/;

function readQuery(request: Request): Record<string, string> {
  const query = Object.fromEntries(new URL(request.url).searchParams);
  if (Object.entries(query).some(([key, value]) => `${key}${value}`.includes('\u0000'))) {
    throw new AirlockError('bad_request', `invalid query: ${NUL_TEXT}`);
  }
  return query;
}

async function readJson(request: Request): Promise<unknown> {
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) throw new AirlockError('bad_request', 'send the body as JSON (Content-Type: application/json)');
  const text = await readText(request);
  if (ESCAPED_NUL.test(text)) throw new AirlockError('bad_request', `invalid body: ${NUL_TEXT}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new AirlockError('bad_request', 'the body is not valid JSON');
  }
}

/**
 * The body as text, at most MAX_BODY_BYTES of it held in memory: past that the rest is read
 * and dropped, then refused. (Read to its end rather than cut off: a client still sending
 * would otherwise wait on a connection nobody reads, and never see the refusal.)
 */
async function readText(request: Request): Promise<string> {
  if (!request.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  if (size > MAX_BODY_BYTES) throw new AirlockError('bad_request', `the body is too large (at most ${MAX_BODY_BYTES} bytes)`);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A state-changing request carried by the session cookie must come from the console's
 * own pages (CSRF). API-token requests carry no ambient credential and are exempt.
 */
function assertSameOrigin(request: Request): void {
  const origin = request.headers.get('origin');
  const allowed = new Set([new URL(runtime().publicUrl).origin, new URL(request.url).origin]);
  const host = request.headers.get('host');
  if (host) {
    allowed.add(`http://${host}`);
    allowed.add(`https://${host}`);
  }
  if (origin ? allowed.has(origin) : request.headers.get('sec-fetch-site') === 'same-origin') return;
  throw new AirlockError('forbidden', 'cross-origin request refused');
}

/** The one place errors become HTTP responses. */
export function errorResponse(error: unknown): Response {
  if (isAirlockError(error)) {
    const headers: Record<string, string> = {};
    if (error.code === 'unauthorized') headers['www-authenticate'] = 'Bearer realm="airlock"';
    return Response.json({ error: { code: error.code, message: error.message } }, { status: error.status, headers });
  }
  log.error('route handler failed', { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  return Response.json({ error: { code: 'internal', message: 'internal error' } }, { status: 500 });
}
