import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { log } from '../lib/log';
import { errorResponse } from './route';

const gzipAsync = promisify(gzip);

/**
 * The reviewer's hot API routes, answered by the custom server without Next's router: the
 * same route handlers (the modules' exported functions, wrapped by `withUser`), called with
 * a web Request as Next builds it. Measured on this project's machine, Next's routing added 4–5 ms to
 * every API request, and an agent whose call is held waits for the reviewer's decision POST.
 * Anything not matched here (another method, a trailing slash, an encoding Next would
 * refuse) goes to Next as before.
 */
type Handler = (request: Request, context: { params: Promise<Record<string, string>> }) => Promise<Response>;
type Route = { method: 'GET' | 'POST'; pattern: RegExp; load: () => Promise<Handler> };

const ID = '([0-9A-Za-z-]{1,64})';
const ROUTES: Route[] = [
  { method: 'GET', pattern: /^\/api\/queue$/, load: async () => (await import('../../app/api/queue/route')).GET },
  { method: 'GET', pattern: /^\/api\/approvals$/, load: async () => (await import('../../app/api/approvals/route')).GET },
  {
    method: 'GET',
    pattern: new RegExp(`^/api/approvals/${ID}$`),
    load: async () => (await import('../../app/api/approvals/[id]/route')).GET,
  },
  {
    method: 'POST',
    pattern: new RegExp(`^/api/approvals/${ID}/decision$`),
    load: async () => (await import('../../app/api/approvals/[id]/decision/route')).POST,
  },
];

export type DirectRoutes = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * A request listener for the routes above: returns false (and does nothing) for any other
 * request. Responses carry the headers next.config.js gives every API response.
 */
export async function directRoutes(origin: string): Promise<DirectRoutes> {
  const headers = await apiHeaders();
  const handlers = await Promise.all(ROUTES.map(async (route) => ({ ...route, handler: await route.load() })));
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    for (const route of handlers) {
      if (route.method !== req.method) continue;
      const match = route.pattern.exec(path);
      if (!match) continue;
      void serve(route.handler, match[1], new URL(url, origin), req, res, headers);
      return true;
    }
    return false;
  };
}

async function serve(
  handler: Handler,
  id: string | undefined,
  url: URL,
  req: IncomingMessage,
  res: ServerResponse,
  headers: Record<string, string>,
): Promise<void> {
  let response: Response;
  try {
    const requestHeaders = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) requestHeaders.append(name, v);
    }
    // the URL as Next builds it, from the server's own address, never from the client's Host;
    // the body streams, so the handler authenticates before reading it and enforces its limit
    const init: RequestInit & { duplex?: 'half' } = { method: req.method, headers: requestHeaders };
    if (req.method === 'POST') {
      init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>;
      init.duplex = 'half';
    }
    const params: Record<string, string> = id === undefined ? {} : { id };
    response = await handler(new Request(url, init), { params: Promise.resolve(params) });
  } catch (error) {
    response = errorResponse(error);
  }
  await send(req, res, response, headers).catch((error) => {
    log.debug('console response not delivered', { error: String(error) });
    res.destroy();
  });
}

/** Bodies smaller than this go out as they are (Next's threshold too): compressing them saves nothing. */
const COMPRESS_MIN_BYTES = 1024;

async function send(req: IncomingMessage, res: ServerResponse, response: Response, headers: Record<string, string>): Promise<void> {
  const out: Record<string, string | string[]> = { ...headers };
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') out[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) out['set-cookie'] = cookies;
  let payload = Buffer.from(await response.arrayBuffer());
  // as Next compresses its own responses: a queue page for a phone is mostly repeated keys
  out.vary = out.vary ? `${out.vary}, Accept-Encoding` : 'Accept-Encoding';
  if (payload.length >= COMPRESS_MIN_BYTES && !out['content-encoding'] && acceptsGzip(req.headers['accept-encoding'])) {
    payload = await gzipAsync(payload);
    out['content-encoding'] = 'gzip';
  }
  out['content-length'] = String(payload.length);
  res.writeHead(response.status, out).end(payload);
}

/** Whether an Accept-Encoding header admits gzip (by name or `*`, with a q-value above 0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  let gzip: number | undefined;
  let any: number | undefined;
  for (const part of header.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    if (name === 'gzip' || name === 'x-gzip') gzip = weight;
    else if (name === '*') any = weight;
  }
  const weight = gzip ?? any ?? 0;
  return Number.isFinite(weight) && weight > 0;
}

/** The headers next.config.js sets on every API response (its `/:path*` and `/api/:path*` rules). */
async function apiHeaders(): Promise<Record<string, string>> {
  type Rule = { source: string; headers: { key: string; value: string }[] };
  const file = pathToFileURL(resolve(import.meta.dirname, '../../next.config.js')).href;
  const { default: config } = (await import(file)) as { default: { headers: () => Promise<Rule[]> } };
  const rules = (await config.headers()).filter((rule) => rule.source === '/:path*' || rule.source === '/api/:path*');
  return Object.fromEntries(rules.flatMap((rule) => rule.headers.map((h) => [h.key.toLowerCase(), h.value])));
}
