'use client';

import { useEffect, useRef, useState } from 'react';
import { io, type Socket } from 'socket.io-client';
import type { QueueItem } from '@/server/approvals/queue';

export type ApprovalEvent = { id: string; status: string; item: QueueItem | null };
export type FeedState = 'connecting' | 'live' | 'offline';

type Listener = { onEvent?: (event: ApprovalEvent) => void; onResync?: () => void; onState?: (state: FeedState) => void };

let socket: Socket | null = null;
let state: FeedState = 'connecting';
const listeners = new Set<Listener>();

/** One socket per page, shared by every component that follows the feed. */
function connect(): Socket {
  if (socket) return socket;
  socket = io({ path: '/socket.io', transports: ['websocket', 'polling'], withCredentials: true });
  const setState = (next: FeedState) => {
    state = next;
    for (const l of listeners) l.onState?.(next);
  };
  // invariant 6: events are hints; on every (re)connect the page reloads its data from the API
  socket.on('connect', () => {
    setState('live');
    for (const l of listeners) l.onResync?.();
  });
  socket.on('disconnect', (reason) => {
    setState('offline');
    // the server dropped us (account disabled or demoted): a session that no longer works goes to sign-in
    if (reason === 'io server disconnect') void checkSession();
  });
  socket.on('connect_error', (error) => {
    setState('offline');
    if (error.message === 'unauthorized') {
      window.location.assign(`/signin?expired=1&callbackUrl=${encodeURIComponent(window.location.pathname + window.location.search)}`);
    }
    // the server could not check the session (its database failed): socket.io does not retry a
    // refusal by the server's middleware by itself
    if (error.message === 'unavailable') setTimeout(() => socket?.connect(), 2000);
  });
  // the server missed events (its database subscription was lost and is back): reload, as on a reconnect
  socket.on('resync', () => {
    for (const l of listeners) l.onResync?.();
  });
  socket.on('approval', (event: ApprovalEvent) => {
    for (const l of listeners) l.onEvent?.(event);
  });
  // signed out in another tab (next-auth tells the others through localStorage): the session's
  // cookie is gone, but this socket was opened with it and would keep receiving events
  window.addEventListener('storage', (event) => {
    if (event.key !== 'nextauth.message' || !event.newValue) return;
    let trigger: unknown;
    try {
      trigger = (JSON.parse(event.newValue) as { data?: { trigger?: unknown } } | null)?.data?.trigger;
    } catch {
      return;
    }
    if (trigger !== 'signout') return;
    socket?.disconnect();
    window.location.assign('/signin');
  });
  return socket;
}

async function checkSession(): Promise<void> {
  const response = await fetch('/api/queue?status=pending&limit=1', { cache: 'no-store' }).catch(() => null);
  if (response?.status === 401 || response?.status === 403) {
    window.location.assign(`/signin?expired=1&callbackUrl=${encodeURIComponent(window.location.pathname + window.location.search)}`);
    return;
  }
  setTimeout(() => socket?.connect(), 2000);
}

/** Follow approval events; `onResync` runs after each (re)connection. Handlers may change between renders. */
export function useApprovalFeed(handlers: Omit<Listener, 'onState'>): FeedState {
  const ref = useRef(handlers);
  ref.current = handlers;
  const [current, setCurrent] = useState<FeedState>(state);
  useEffect(() => {
    const listener: Listener = {
      onEvent: (event) => ref.current.onEvent?.(event),
      onResync: () => ref.current.onResync?.(),
      onState: setCurrent,
    };
    listeners.add(listener);
    // already connected (the page's socket outlives in-console navigation): its connect, and the
    // reload it brings, came before this component's data was rendered, so reload now
    if (connect().connected) listener.onResync?.();
    setCurrent(state);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  return current;
}
