import { describe, expect, it } from 'vitest';
import { applyChange, type QueueFilters, type QueueState } from '../../components/queue/queue-state';
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
