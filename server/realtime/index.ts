import type { Server as HttpServer } from 'node:http';
import { and, inArray, isNull } from 'drizzle-orm';
import { Server, type Socket } from 'socket.io';
import type { Database } from '../../db/database';
import { apiTokens, users } from '../../db/schema';
import { getQueueItem, type QueueItem } from '../approvals/queue';
import { APPROVALS_CHANNEL, parseApprovalNotice } from '../approvals/types';
import { can } from '../auth/permissions';
import { authenticateRequest, type SessionUser, sessionOutlived } from '../auth/session';
import { isAirlockError } from '../lib/errors';
import { log } from '../lib/log';

/** Server → console events. Hints only (invariant 6): consoles resync from the API on (re)connect. */
export type ServerEvents = {
  /** A request appeared or changed; `item` is null if it could not be read. */
  approval: (event: { id: string; status: string; item: QueueItem | null }) => void;
  /** Sent once the handshake is accepted. */
  ready: (event: { user: Pick<SessionUser, 'email' | 'role'> }) => void;
  /** Events may have been missed (the database subscription was lost and is back): re-read from the API. */
  resync: () => void;
};
export type ClientEvents = Record<string, never>;

/** `cookieSince`: when a cookie-authenticated socket was accepted (seconds); null for an API token. */
type Data = { user: SessionUser; cookieSince: number | null };
type ConsoleSocket = Socket<ClientEvents, ServerEvents, Record<string, never>, Data>;

const ROOM = 'approvals';

export type RealtimeOptions = {
  database: Database;
  /** The next-auth secret, to read session cookies at the handshake. */
  secret: () => string;
  /** Allowed Origins of the console (same-origin in practice). */
  origins: () => string[];
  /** How often each socket's user is re-read; a disabled or demoted user is dropped (ms). */
  recheckMs?: number;
};

/**
 * socket.io on the Airlock HTTP server: sessions are authenticated at the handshake from the
 * next-auth cookie (or a personal API token in `auth.token`), users are re-read every few
 * seconds, and each process fans out the database's NOTIFY to its own sockets, so a change
 * made on any instance reaches consoles connected to every instance.
 */
export async function startRealtime(server: HttpServer, options: RealtimeOptions) {
  const io = new Server<ClientEvents, ServerEvents, Record<string, never>, Data>(server, {
    path: '/socket.io',
    serveClient: false,
    // a cross-site page must not open a socket with the reviewer's cookie
    allowRequest: (req, callback) => {
      const origin = req.headers.origin;
      callback(null, !origin || options.origins().includes(origin) || sameHost(origin, req.headers.host));
    },
  });

  io.use(async (socket, next) => {
    try {
      const headers = new Headers();
      const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
      if (typeof token === 'string') headers.set('authorization', `Bearer ${token}`);
      else if (socket.handshake.headers.cookie) headers.set('cookie', socket.handshake.headers.cookie);
      const user = await authenticateRequest(
        options.database,
        new Request('http://console.local/socket.io', { headers }),
        options.secret(),
      );
      if (!can(user.role, 'approvals.read')) return next(new Error('forbidden'));
      socket.data = { user, cookieSince: typeof token === 'string' ? null : Math.floor(Date.now() / 1000) };
      next();
    } catch (error) {
      // only a refused credential signs the console out; the database failing (an outage, a
      // failover) is a reason to try again, not to lose a half-written reason at the sign-in page
      next(new Error(isAirlockError(error) && error.code === 'unauthorized' ? 'unauthorized' : 'unavailable'));
    }
  });

  io.on('connection', (socket: ConsoleSocket) => {
    void socket.join(ROOM);
    socket.emit('ready', { user: { email: socket.data.user.email, role: socket.data.user.role } });
  });

  // invariant 4 and 7: roles and status are re-read; a demoted or disabled user loses the feed within seconds
  const recheck = setInterval(() => void recheckUsers(io, options.database), options.recheckMs ?? 3000);
  recheck.unref();

  // Reads run on a pool, so two events about one request could finish out of order and leave
  // a console showing `pending` after `approved`: each request's events are read in turn.
  const inTurn = new Map<string, Promise<void>>();
  const resync = () => void io.to(ROOM).emit('resync');
  const unlisten = await options.database.listen(
    APPROVALS_CHANNEL,
    (payload) => {
      const event = parseApprovalNotice(payload);
      if (!event) {
        log.debug('realtime: unreadable notification dropped', { payload: payload.slice(0, 200) });
        return;
      }
      // nobody watching in this process: no query
      if (io.engine.clientsCount === 0) return;
      const { id, status } = event;
      const turn = (inTurn.get(id) ?? Promise.resolve())
        .then(async () => {
          const item = await getQueueItem(options.database.orm, id).catch(() => undefined);
          // unread (the database failed): an event with no item would take a pending row off the
          // page; consoles re-read their data instead (invariant 6)
          if (item === undefined) return void io.to(ROOM).emit('resync');
          io.to(ROOM).emit('approval', { id, status, item });
        })
        .catch((error) => log.debug('realtime: event dropped', { error: String(error) }));
      inTurn.set(id, turn);
      void turn.finally(() => {
        if (inTurn.get(id) === turn) inTurn.delete(id);
      });
    },
    // events sent while the subscription was down are lost: every console re-reads its data (invariant 6)
    () => resync(),
  );

  return {
    io,
    /** Tell every console that it may have missed events and must re-read its data. */
    resync,
    async close() {
      clearInterval(recheck);
      await unlisten();
      io.disconnectSockets(true);
      // the HTTP server is closed by its owner; only detach socket.io's engine here
      io.engine.close();
    },
  };
}

export type Realtime = Awaited<ReturnType<typeof startRealtime>>;

async function recheckUsers(io: Server<ClientEvents, ServerEvents, Record<string, never>, Data>, database: Database): Promise<void> {
  const sockets = await io.fetchSockets();
  if (sockets.length === 0) return;
  const ids = [...new Set(sockets.map((s) => s.data.user.id))];
  const tokenIds = [...new Set(sockets.flatMap((s) => (s.data.user.tokenId ? [s.data.user.tokenId] : [])))];
  let rows: { id: string; role: SessionUser['role']; disabled: boolean; sessionsValidAfter: Date | null }[];
  // a revoked API token loses the feed as it loses the API (invariant 7)
  let liveTokens: Set<string>;
  try {
    rows = await database.orm
      .select({ id: users.id, role: users.role, disabled: users.disabled, sessionsValidAfter: users.sessionsValidAfter })
      .from(users)
      .where(inArray(users.id, ids));
    const tokens =
      tokenIds.length === 0
        ? []
        : await database.orm
            .select({ id: apiTokens.id })
            .from(apiTokens)
            .where(and(inArray(apiTokens.id, tokenIds), isNull(apiTokens.revokedAt)));
    liveTokens = new Set(tokens.map((token) => token.id));
  } catch {
    return; // database unreachable: the next round retries
  }
  const current = new Map(rows.map((row) => [row.id, row]));
  for (const socket of sockets) {
    const row = current.get(socket.data.user.id);
    // a cookie issued before the handshake is outlived by a reset after it, as every other reader judges
    const reset = socket.data.cookieSince !== null && sessionOutlived(row ?? { sessionsValidAfter: null }, socket.data.cookieSince);
    // the session the cookie carried has ended (the console reconnects with its current cookie, if any)
    const expired = socket.data.user.sessionExpires !== undefined && socket.data.user.sessionExpires <= Date.now() / 1000;
    const { tokenId } = socket.data.user;
    if (!row || row.disabled || !can(row.role, 'approvals.read') || reset || expired || (tokenId && !liveTokens.has(tokenId))) {
      socket.disconnect(true);
      continue;
    }
    socket.data.user = { ...socket.data.user, role: row.role };
  }
}

function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
