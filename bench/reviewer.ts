/**
 * The scripted reviewer's view of Airlock: list pending approval requests, decide one, and
 * hear about changes. Two implementations behind one interface:
 *
 *  - HttpReviewer (the default when a production build of the console exists): the JSON API,
 *    `GET /api/approvals?status=pending` and `POST /api/approvals/:id/decision`, with a
 *    personal API token (`Authorization: Bearer alk_user_…`, minted by the Airlock child with
 *    `createApiToken`), served by the Next console in the Airlock process.
 *  - IpcReviewer (BENCH_REVIEWER=ipc, or no console build): the Airlock child calls the domain
 *    functions `listRequests` / `decide` itself when asked over IPC: the work of the route
 *    handlers minus HTTP, Next routing and token lookup.
 *
 * Either way the change feed is the `airlock_approvals` NOTIFY channel, listened to in the
 * Airlock process and relayed over IPC: a stand-in for the socket.io feed (server/realtime)
 * a reviewer's browser will get. ──► When server/realtime exists, replace `onChange` with a
 * socket.io-client subscription; nothing else in the benchmark changes.
 */
import type { AirlockTarget } from './targets';

export type PendingItem = { id: string; arguments: unknown; createdAt: number };
export type Decision = 'approve' | 'deny';
export type ChangeListener = (change: { id: string; status: string }, at: number) => void;
export type ReviewerKind = 'http' | 'ipc';

export interface Reviewer {
  readonly kind: ReviewerKind;
  /** Pending requests, oldest first (the review queue). */
  listPending(limit?: number): Promise<PendingItem[]>;
  decide(requestId: string, decision: Decision): Promise<void>;
  /** Be told when a request is created or changes; resolves to an unsubscribe function. */
  onChange(listener: ChangeListener): Promise<() => void>;
}

export function makeReviewer(kind: ReviewerKind, airlock: AirlockTarget): Reviewer {
  return kind === 'http' ? new HttpReviewer(airlock) : new IpcReviewer(airlock);
}

/** NOTIFY relayed by the Airlock child (see the header). */
async function relayedNotify(airlock: AirlockTarget, listener: ChangeListener): Promise<() => void> {
  const handler = (payload: string, at: number) => listener(JSON.parse(payload), at);
  airlock.on('notify', handler);
  await airlock.request({ op: 'subscribe' });
  return () => void airlock.off('notify', handler);
}

export class HttpReviewer implements Reviewer {
  readonly kind = 'http' as const;
  private readonly headers: Record<string, string>;

  constructor(private readonly airlock: AirlockTarget) {
    this.headers = { authorization: `Bearer ${airlock.apiToken}`, 'content-type': 'application/json' };
  }

  async listPending(limit = 100): Promise<PendingItem[]> {
    const response = await fetch(`${this.airlock.origin}/api/approvals?status=pending&limit=${limit}`, { headers: this.headers });
    if (!response.ok) throw new Error(`GET /api/approvals: ${response.status} ${await response.text()}`);
    const { items } = (await response.json()) as { items: { id: string; arguments: unknown; createdAt: string }[] };
    return items.map((item) => ({ id: item.id, arguments: item.arguments, createdAt: Date.parse(item.createdAt) }));
  }

  async decide(requestId: string, decision: Decision): Promise<void> {
    const response = await fetch(`${this.airlock.origin}/api/approvals/${requestId}/decision`, {
      method: 'POST',
      headers: this.headers,
      body: JSON.stringify({ decision }),
    });
    const text = await response.text(); // read the body in full: the connection goes back to the pool
    if (!response.ok) throw new Error(`POST /api/approvals/${requestId}/decision: ${response.status} ${text}`);
  }

  onChange(listener: ChangeListener): Promise<() => void> {
    return relayedNotify(this.airlock, listener);
  }
}

export class IpcReviewer implements Reviewer {
  readonly kind = 'ipc' as const;
  constructor(private readonly airlock: AirlockTarget) {}

  listPending(limit = 100): Promise<PendingItem[]> {
    return this.airlock.request<PendingItem[]>({ op: 'list', limit });
  }

  async decide(requestId: string, decision: Decision): Promise<void> {
    await this.airlock.request({ op: 'decide', requestId, decision });
  }

  onChange(listener: ChangeListener): Promise<() => void> {
    return relayedNotify(this.airlock, listener);
  }
}
