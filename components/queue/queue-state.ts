import type { QueueItem } from '@/server/approvals/queue';

export type QueueSort = 'age' | 'time-left' | 'newest';
export type QueueFilters = {
  upstream?: string;
  agent?: string;
  tool?: string;
  risk?: 'high' | 'medium' | 'low';
  q?: string;
  sort: QueueSort;
};

/** One page of the queue as the browser holds it. `unseen`: new requests that sort after the page's last row. */
export type QueueState = { items: QueueItem[]; total: number; unseen: number };

export type ApprovalChange = { id: string; status: string; item: QueueItem | null };

export function matches(item: QueueItem, f: QueueFilters): boolean {
  if (f.upstream && item.upstream !== f.upstream) return false;
  if (f.agent && item.agent.name !== f.agent) return false;
  if (f.tool && item.tool !== f.tool) return false;
  if (f.risk && item.riskLevel !== f.risk) return false;
  if (f.q) {
    const q = f.q.toLowerCase();
    if (![item.tool, item.upstream, item.agent.name].some((s) => s.toLowerCase().includes(q))) return false;
  }
  return true;
}

/** The server's order for a sort (server/approvals/queue.ts): ties broken by id. */
export function compare(a: QueueItem, b: QueueItem, sort: QueueSort): number {
  if (sort === 'newest') return b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id);
  const key = sort === 'time-left' ? 'expiresAt' : 'createdAt';
  return a[key].localeCompare(b[key]) || a.id.localeCompare(b.id);
}

function insert(items: QueueItem[], item: QueueItem, sort: QueueSort): QueueItem[] {
  const at = items.findIndex((other) => compare(item, other, sort) < 0);
  return at === -1 ? [...items, item] : [...items.slice(0, at), item, ...items.slice(at)];
}

/**
 * Apply one event to the page. A request belongs on the page only where the server would
 * put it: a new one that sorts after the last row of a page with more behind it is counted
 * as unseen instead of shown out of order. `refill` asks for a reload from the API: when a
 * row left a page that has more requests behind it, and when such a new request finds a
 * page with room on it. A page the server sent holds `pageSize` rows or all of them, so room
 * means the page lost rows (a refill is coming) or its total is ahead of its events: the
 * count, read from the database, already includes a request whose event had not arrived yet,
 * and its own event then finds the page looking incomplete. The page read says which.
 */
export function applyChange(
  state: QueueState,
  change: ApprovalChange,
  filters: QueueFilters,
  pageSize: number,
): { state: QueueState; refill: boolean } {
  const shown = state.items.some((i) => i.id === change.id);
  const items = shown ? state.items.filter((i) => i.id !== change.id) : state.items;
  const item = change.item;
  const belongs = item !== null && item.status === 'pending' && matches(item, filters);

  if (belongs && shown) return { state: { ...state, items: insert(items, item, filters.sort) }, refill: false };
  if (belongs) {
    const total = state.total + 1;
    const complete = state.total <= state.items.length; // the page holds every request
    const last = items.at(-1);
    if ((complete && items.length < pageSize) || (last && compare(item, last, filters.sort) < 0)) {
      return { state: { ...state, total, items: insert(items, item, filters.sort).slice(0, pageSize) }, refill: false };
    }
    return { state: { ...state, total, unseen: state.unseen + 1 }, refill: items.length < pageSize };
  }
  if (shown) {
    const total = Math.max(0, state.total - 1);
    return { state: { ...state, items, total }, refill: total > items.length };
  }
  return { state, refill: false };
}
