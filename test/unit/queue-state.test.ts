import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { applyChange, type QueueFilters, type QueueState, QueueSync } from '../../components/queue/queue-state';
import type { QueueItem } from '../../server/approvals/queue';

const item = (n: number, extra: Partial<QueueItem> = {}): QueueItem => ({
  id: `r${String(n).padStart(3, '0')}`,
  status: 'pending',
  upstream: 'demo',
  tool: 'send_email',
  sessionId: 's',
  agent: { id: 'a', name: 'agent', ownerEmail: 'o@example.com' },
  rule: { id: 'rule' },
  requiredApprovals: 1,
  approvals: 0,
  riskLevel: 'medium',
  riskFlags: [],
  argumentsPreview: '',
  createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
  expiresAt: new Date(Date.UTC(2026, 0, 1, 1, 0, 0) - n * 1000).toISOString(),
  decidedAt: null,
  decidedBy: null,
  reason: null,
  executedAt: null,
  ...extra,
});

const oldest: QueueFilters = { sort: 'age' };
const page = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => item(from + i));
const ids = (s: QueueState) => s.items.map((i) => i.id);

describe('the live queue page', () => {
  it('shows a new request on a page that holds every request', () => {
    const { state } = applyChange({ items: page(1, 3), total: 3, unseen: 0 }, { id: 'r004', status: 'pending', item: item(4) }, oldest, 5);
    expect(ids(state)).toEqual(['r001', 'r002', 'r003', 'r004']);
    expect(state.total).toBe(4);
  });

  it('counts a new request that sorts after a full page as unseen instead of showing it out of order', () => {
    const full = { items: page(1, 5), total: 10, unseen: 0 };
    const { state } = applyChange(full, { id: 'r011', status: 'pending', item: item(11) }, oldest, 5);
    expect(ids(state)).toEqual(ids(full));
    expect(state).toMatchObject({ total: 11, unseen: 1 });
  });

  it('shows a new request that sorts into a full page, dropping the last row', () => {
    const full = { items: page(1, 5), total: 10, unseen: 0 };
    const urgent = item(99, { expiresAt: new Date(Date.UTC(2025, 0, 1)).toISOString() });
    const { state } = applyChange(
      { ...full, items: [...full.items].reverse() },
      { id: urgent.id, status: 'pending', item: urgent },
      { sort: 'time-left' },
      5,
    );
    expect(state.items[0].id).toBe('r099');
    expect(state.items).toHaveLength(5);
    const newest = applyChange(full, { id: 'r011', status: 'pending', item: item(11) }, { sort: 'newest' }, 5).state;
    expect(newest.items[0].id).toBe('r011');
  });

  it('removes a decided request and asks for a refill when more are behind the page', () => {
    const full = { items: page(1, 5), total: 10, unseen: 0 };
    const { state, refill } = applyChange(full, { id: 'r003', status: 'denied', item: item(3, { status: 'denied' }) }, oldest, 5);
    expect(ids(state)).toEqual(['r001', 'r002', 'r004', 'r005']);
    expect(state.total).toBe(9);
    expect(refill).toBe(true);
    // and the next new request does not slip into the gap ahead of older ones
    const next = applyChange(state, { id: 'r012', status: 'pending', item: item(12) }, oldest, 5).state;
    expect(ids(next)).toEqual(['r001', 'r002', 'r004', 'r005']);
    expect(next.unseen).toBe(1);
  });

  it('asks for a reload when a new request finds a page with room whose count already includes it', () => {
    // the count, read from the database between the request's commit and its event, says 1 where the page holds 0
    const raced = { items: [], total: 1, unseen: 0 };
    const { state, refill } = applyChange(raced, { id: 'r001', status: 'pending', item: item(1) }, oldest, 5);
    expect(refill).toBe(true);
    expect(state.total).toBe(2);
    // a full page with more behind it needs no reload: the request is counted as unseen, as it should be
    expect(
      applyChange({ items: page(1, 5), total: 10, unseen: 0 }, { id: 'r011', status: 'pending', item: item(11) }, oldest, 5).refill,
    ).toBe(false);
  });

  it('keeps a request that changed but still belongs (a vote on a 2-of-2), in place', () => {
    const { state } = applyChange(
      { items: page(1, 3), total: 3, unseen: 0 },
      { id: 'r002', status: 'pending', item: item(2, { approvals: 1 }) },
      oldest,
      5,
    );
    expect(ids(state)).toEqual(['r001', 'r002', 'r003']);
    expect(state.items[1].approvals).toBe(1);
    expect(state.total).toBe(3);
  });

  it('ignores requests outside the filters and events about requests it never showed', () => {
    const start = { items: page(1, 3), total: 3, unseen: 0 };
    expect(
      applyChange(
        start,
        { id: 'x', status: 'pending', item: item(7, { id: 'x', upstream: 'other' }) },
        { sort: 'age', upstream: 'demo' },
        5,
      ).state,
    ).toEqual(start);
    expect(applyChange(start, { id: 'y', status: 'approved', item: null }, oldest, 5).state).toEqual(start);
  });
});

type Page = { items: QueueItem[]; total: number };

/** A QueueSync whose API reads are answered by the test, one by one, in any order. */
function harness(initial: QueueState, filters: QueueFilters = oldest, pageSize = 5) {
  const reads: { filters: QueueFilters; limit: number; answer: (page: Page | null) => Promise<void> }[] = [];
  const states: QueueState[] = [];
  const sync = new QueueSync(initial, filters, {
    pageSize,
    onState: (state) => states.push(state),
    read: (f, limit) =>
      new Promise((resolve) => {
        reads.push({
          filters: f,
          limit,
          // answered, then every callback the answer sets off has run
          answer: async (page) => {
            resolve(page);
            await vi.advanceTimersByTimeAsync(0);
          },
        });
      }),
    refillDelayMs: 250,
    countDelayMs: 300,
    maxReadsInRow: 3,
    pauseMs: 1000,
  });
  const pageReads = () => reads.filter((r) => r.limit === pageSize);
  const countReads = () => reads.filter((r) => r.limit === 1);
  return { sync, reads, pageReads, countReads, states };
}

const created = (n: number) => ({ id: item(n).id, status: 'pending', item: item(n) });
const decided = (n: number) => ({ id: item(n).id, status: 'approved', item: item(n, { status: 'approved' }) });

describe('the live queue between server renders (QueueSync)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('replays over a page read the events that arrived while it was in flight', async () => {
    const { sync, pageReads } = harness({ items: page(1, 2), total: 2, unseen: 0 });
    const done = sync.resync();
    // the page is read from the database before r003 exists and r001 is decided; both events arrive before its body
    sync.event(created(3));
    sync.event(decided(1));
    await pageReads()[0].answer({ items: page(1, 2), total: 2 });
    await done;
    expect(ids(sync.current)).toEqual(['r002', 'r003']);
    expect(sync.current.total).toBe(2);
  });

  it('leaves the page as it is when a read fails', async () => {
    const start = { items: page(1, 2), total: 2, unseen: 0 };
    const { sync, pageReads } = harness(start);
    const done = sync.resync();
    await pageReads()[0].answer(null);
    await done;
    expect(sync.current).toEqual(start);
  });

  it('runs one read at a time, and one more for all the requests made during one', async () => {
    const { sync, pageReads } = harness({ items: [], total: 0, unseen: 0 });
    const first = sync.resync();
    const second = sync.resync();
    const third = sync.resync();
    expect(pageReads()).toHaveLength(1);
    await pageReads()[0].answer({ items: page(1, 1), total: 1 });
    expect(pageReads()).toHaveLength(2);
    await pageReads()[1].answer({ items: page(1, 2), total: 2 });
    await Promise.all([first, second, third]);
    expect(pageReads()).toHaveLength(2);
    expect(ids(sync.current)).toEqual(['r001', 'r002']);
  });

  it("does not let a count read before a page read overwrite the page's newer total", async () => {
    const { sync, pageReads, countReads } = harness({ items: page(1, 5), total: 10, unseen: 0 });
    sync.event(created(11)); // counted as unseen; the count is confirmed 300 ms later
    await vi.advanceTimersByTimeAsync(300);
    expect(countReads()).toHaveLength(1);
    const done = sync.resync(); // a reconnect, while the count is on its way
    await pageReads()[0].answer({ items: page(1, 5), total: 12 });
    await done;
    await countReads()[0].answer({ items: page(1, 1), total: 11 }); // read before the page: older
    expect(sync.current.total).toBe(12);
    // a count read after the page applies
    sync.event(created(13));
    await vi.advanceTimersByTimeAsync(300);
    await countReads()[1].answer({ items: page(1, 1), total: 14 });
    expect(sync.current.total).toBe(14);
  });

  it('drops a read begun under the old filters, and reads with the new ones after', async () => {
    const { sync, pageReads } = harness({ items: page(1, 2), total: 2, unseen: 0 });
    const stale = sync.resync();
    const demoOnly: QueueFilters = { sort: 'age', upstream: 'demo' };
    sync.reset({ items: page(5, 6), total: 2, unseen: 0 }, demoOnly);
    const fresh = sync.resync(); // a reconnect under the new filters, while the old read is out
    await pageReads()[0].answer({ items: page(1, 4), total: 4 });
    expect(ids(sync.current)).toEqual(['r005', 'r006']);
    expect(pageReads()).toHaveLength(2);
    expect(pageReads()[1].filters).toEqual(demoOnly);
    await pageReads()[1].answer({ items: page(5, 7), total: 3 });
    await Promise.all([stale, fresh]);
    expect(ids(sync.current)).toEqual(['r005', 'r006', 'r007']);
  });

  it('refills a page a decided row left, after the refill delay, in order', async () => {
    const { sync, pageReads } = harness({ items: page(1, 5), total: 7, unseen: 0 });
    sync.event(decided(2));
    expect(ids(sync.current)).toEqual(['r001', 'r003', 'r004', 'r005']);
    await vi.advanceTimersByTimeAsync(249);
    expect(pageReads()).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    await pageReads()[0].answer({ items: [item(1), ...page(3, 6)], total: 6 });
    expect(ids(sync.current)).toEqual(['r001', 'r003', 'r004', 'r005', 'r006']);
  });

  it('reads again while replayed events keep asking for a refill, pausing after three reads in a row instead of giving up', async () => {
    const { sync, pageReads } = harness({ items: page(1, 4), total: 8, unseen: 0 });
    void sync.resync();
    for (let n = 0; n < 3; n++) {
      // each read returns a row that is decided while the read is out: the event finds it on no page
      // shown (no refill of its own), and its replay leaves a gap in the page read, with more behind it
      sync.event(decided(90 + n));
      await pageReads()[n].answer({ items: [...page(1, 4), item(90 + n)], total: 9 });
    }
    expect(pageReads()).toHaveLength(3);
    expect(sync.current).toMatchObject({ total: 8 });
    await vi.advanceTimersByTimeAsync(999);
    expect(pageReads()).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(pageReads()).toHaveLength(4);
    await pageReads()[3].answer({ items: page(1, 5), total: 8 });
    expect(ids(sync.current)).toEqual(['r001', 'r002', 'r003', 'r004', 'r005']);
  });

  it('confirms the total after a page read that replayed an event its total may already count', async () => {
    const { sync, pageReads, countReads } = harness({ items: page(1, 5), total: 10, unseen: 0 });
    const done = sync.resync();
    sync.event(created(11)); // r011 is created after the read began and before the database answered it
    await vi.advanceTimersByTimeAsync(300);
    await countReads()[0].answer({ items: page(1, 1), total: 11 }); // begun after the page read: applies
    expect(sync.current.total).toBe(11);
    await pageReads()[0].answer({ items: page(1, 5), total: 11 }); // counts r011, and its event is replayed over it
    await done;
    expect(sync.current.total).toBe(12);
    await vi.advanceTimersByTimeAsync(300);
    expect(countReads()).toHaveLength(2);
    await countReads()[1].answer({ items: page(1, 1), total: 11 });
    expect(sync.current.total).toBe(11);
  });

  it('keeps the newer of two count reads answered out of order', async () => {
    const { sync, countReads } = harness({ items: page(1, 5), total: 10, unseen: 0 });
    sync.event(created(11));
    await vi.advanceTimersByTimeAsync(300);
    sync.event(created(12)); // while the first count is out: a second one, 300 ms later
    await vi.advanceTimersByTimeAsync(300);
    expect(countReads()).toHaveLength(2);
    await countReads()[1].answer({ items: page(1, 1), total: 12 });
    await countReads()[0].answer({ items: page(1, 1), total: 11 });
    expect(sync.current.total).toBe(12);
  });

  it('reads again after a server render that a read in flight or a recent event may be newer than', async () => {
    const start = { items: page(1, 2), total: 2, unseen: 0 };
    const { sync, pageReads } = harness(start);
    // the same filters rendered again while a reconnect's read is out: that read is dropped, and made again
    const out = sync.resync();
    sync.reset(start, oldest);
    await pageReads()[0].answer({ items: page(1, 3), total: 3 });
    await out;
    expect(pageReads()).toHaveLength(2);
    await pageReads()[1].answer({ items: page(1, 3), total: 3 });
    expect(ids(sync.current)).toEqual(['r001', 'r002', 'r003']);
    // an event a moment before the render arrives: the render may have read the database before it
    sync.event(decided(1));
    await vi.advanceTimersByTimeAsync(1000);
    sync.reset({ items: page(1, 3), total: 3, unseen: 0 }, oldest);
    expect(pageReads()).toHaveLength(3);
    await pageReads()[2].answer({ items: page(2, 3), total: 2 });
    expect(ids(sync.current)).toEqual(['r002', 'r003']);
    // no event for a while: the render stands, unread
    await vi.advanceTimersByTimeAsync(5000);
    sync.reset({ items: page(2, 4), total: 3, unseen: 0 }, oldest);
    expect(pageReads()).toHaveLength(3);
  });

  it('works again once started after a stop (a remount, or React running effects twice)', async () => {
    const { sync, pageReads } = harness({ items: page(1, 2), total: 2, unseen: 0 });
    sync.stop();
    sync.event(created(3));
    await sync.resync();
    expect(pageReads()).toHaveLength(0);
    expect(ids(sync.current)).toEqual(['r001', 'r002']);
    sync.start();
    sync.event(created(3));
    expect(ids(sync.current)).toEqual(['r001', 'r002', 'r003']);
    const done = sync.resync();
    await pageReads()[0].answer({ items: page(1, 3), total: 3 });
    await done;
    expect(sync.current.total).toBe(3);
  });

  it('once stopped (unmounted), applies no read in flight and sets off no timer', async () => {
    const start = { items: page(1, 5), total: 7, unseen: 0 };
    const { sync, reads, states } = harness(start);
    const done = sync.resync();
    sync.event(decided(1)); // schedules a refill and a count
    const before = states.length;
    sync.stop();
    await reads[0].answer({ items: page(2, 6), total: 6 });
    await done;
    await vi.advanceTimersByTimeAsync(5000);
    expect(states).toHaveLength(before);
    expect(reads).toHaveLength(1);
  });
});
