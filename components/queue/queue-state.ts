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

/** A page read, or null when it failed (the next event or reconnect tries again). */
export type PageRead = (filters: QueueFilters, limit: number) => Promise<{ items: QueueItem[]; total: number } | null>;

export type QueueSyncOptions = {
  pageSize: number;
  /** Reads a page from the API; `limit: 1` is a read for the count alone. */
  read: PageRead;
  /** Hears every new state. */
  onState: (state: QueueState) => void;
  /** Quiet time before a refill read after a row left the page (ms). */
  refillDelayMs?: number;
  /** Quiet time before the count is read from the database after events moved it (ms). */
  countDelayMs?: number;
  /** Reads in a row (each asked for by an event replayed over the one before) before pausing. */
  maxReadsInRow?: number;
  /** The pause after that many (ms). */
  pauseMs?: number;
};

/** An event this recent when a server render arrives may be missing from it (ms). */
const RECENT_EVENT_MS = 2000;

/**
 * The queue page's life between server renders: socket events applied as they come, reads of
 * the page from the API (on reconnect, and to refill a gap), and the count confirmed from the
 * database. Plain TypeScript, so every ordering below is unit-tested.
 *
 * - Events that arrive while a page read is in flight are buffered and replayed over it: the
 *   page is older than they are.
 * - One page read at a time (two would share one buffer); one asked for meanwhile runs after.
 *   A read whose replayed events ask for a refill (the page and an event disagree: a request
 *   decided before the page was read, say, whose event arrives after the read began) is
 *   followed by another, up to `maxReadsInRow`, then one more after a pause.
 * - A count read applies only when no page read and no applied count began after it did: a
 *   page's own total, with the events since replayed over it, is newer. A page read that
 *   replayed events has its total confirmed by a count read after it (a replayed event may be
 *   one its total already counts).
 * - A new server render (new filters, or the same ones again) starts a new generation: a read
 *   begun before it is dropped and read again, as is a render that may have missed an event
 *   of the last 2 s; no later read uses old filters.
 */
export class QueueSync {
  private state: QueueState;
  private filters: QueueFilters;
  private buffered: ApprovalChange[] | null = null;
  private reading: Promise<void> | null = null;
  private readAgain = false;
  private generation = 0;
  /** Ticket of every read begun, of the last page read begun, and of the last count applied. */
  private tickets = 0;
  private lastPageTicket = 0;
  private lastCountTicket = 0;
  /** When the last event arrived (ms since the epoch). */
  private lastEventAt = 0;
  private refillTimer: ReturnType<typeof setTimeout> | null = null;
  private countTimer: ReturnType<typeof setTimeout> | null = null;
  private pauseTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(
    initial: QueueState,
    filters: QueueFilters,
    private readonly options: QueueSyncOptions,
  ) {
    this.state = initial;
    this.filters = filters;
  }

  get current(): QueueState {
    return this.state;
  }

  /**
   * A new snapshot from the server (a render, with these filters): replaces everything. The
   * render read the database a moment ago, so an event that arrived since may be missing
   * from it, and a read in flight may be newer: in either case the page is read again.
   */
  reset(initial: QueueState, filters: QueueFilters): void {
    this.generation++;
    this.filters = filters;
    this.buffered = null;
    this.clearTimers();
    this.set(initial);
    const recent = Date.now() - this.lastEventAt < RECENT_EVENT_MS;
    // a read in flight is dropped (its generation is gone) and followed by one under the new filters
    this.readAgain = this.reading !== null;
    if (recent && !this.reading && !this.stopped) void this.resync();
  }

  /** One socket event. */
  event(change: ApprovalChange): void {
    if (this.stopped) return;
    this.lastEventAt = Date.now();
    this.buffered?.push(change);
    const { state, refill } = applyChange(this.state, change, this.filters, this.options.pageSize);
    this.set(state);
    // a row left a page with more behind it: read the page again to fill the gap in order
    if (refill && !this.refillTimer) {
      this.refillTimer = setTimeout(() => {
        this.refillTimer = null;
        void this.resync();
      }, this.options.refillDelayMs ?? 250);
    }
    this.refreshTotal();
  }

  /** Read the page again (on reconnect, or to refill); resolves when this read, and those asked for during it, are done. */
  resync(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    const generation = this.generation;
    const run = async () => {
      let reads = 0;
      do {
        this.readAgain = false;
        const refill = await this.readPage();
        if (this.stopped || generation !== this.generation) return;
        if (!refill) continue;
        if (++reads < (this.options.maxReadsInRow ?? 3)) this.readAgain = true;
        else this.pauseThenRead();
      } while (this.readAgain);
    };
    this.reading = run().finally(() => {
      this.reading = null;
      // asked for under newer filters while the old read ran
      if (this.readAgain && !this.stopped) void this.resync();
    });
    return this.reading;
  }

  /** Unmounted: timers stop and reads in flight are dropped, until `start` (a remount). */
  stop(): void {
    this.stopped = true;
    this.clearTimers();
  }

  start(): void {
    this.stopped = false;
  }

  private set(state: QueueState): void {
    this.state = state;
    this.options.onState(state);
  }

  /** Whether the page read must be followed by another: an event replayed over it asked for a refill. */
  private async readPage(): Promise<boolean> {
    const generation = this.generation;
    const buffer: ApprovalChange[] = [];
    this.buffered = buffer;
    this.lastPageTicket = ++this.tickets;
    try {
      const page = await this.options.read(this.filters, this.options.pageSize);
      if (!page || this.stopped || generation !== this.generation) return false;
      let next: QueueState = { items: page.items, total: page.total, unseen: 0 };
      let refill = false;
      for (const change of buffer) {
        const applied = applyChange(next, change, this.filters, this.options.pageSize);
        next = applied.state;
        refill ||= applied.refill;
      }
      this.set(next);
      // a replayed event may be one the page already counted (a request created after the read
      // began and before the database answered): the count is confirmed from the database
      if (buffer.length > 0) this.refreshTotal();
      return refill;
    } finally {
      if (this.buffered === buffer) this.buffered = null;
    }
  }

  private pauseThenRead(): void {
    if (this.pauseTimer) return;
    this.pauseTimer = setTimeout(() => {
      this.pauseTimer = null;
      void this.resync();
    }, this.options.pauseMs ?? 1000);
  }

  /** The count from the database, coalesced: events adjust it at once, this confirms it. */
  private refreshTotal(): void {
    if (this.countTimer) return;
    this.countTimer = setTimeout(async () => {
      this.countTimer = null;
      const generation = this.generation;
      const ticket = ++this.tickets;
      const page = await this.options.read(this.filters, 1);
      // a page read begun since has a newer total (and the events since replayed over it), and
      // so has a count read begun since and answered first
      if (!page || this.stopped || generation !== this.generation) return;
      if (this.lastPageTicket > ticket || this.lastCountTicket > ticket) return;
      this.lastCountTicket = ticket;
      this.set({ ...this.state, total: page.total });
    }, this.options.countDelayMs ?? 300);
  }

  private clearTimers(): void {
    for (const timer of [this.refillTimer, this.countTimer, this.pauseTimer]) if (timer) clearTimeout(timer);
    this.refillTimer = this.countTimer = this.pauseTimer = null;
  }
}
