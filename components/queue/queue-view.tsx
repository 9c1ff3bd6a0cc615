'use client';

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useEffect, useMemo, useRef, useState } from 'react';
import { RiskBadges } from '@/components/approvals/risk-badges';
import { VisibleText } from '@/components/approvals/untrusted-text';
import { useShortcuts } from '@/components/keyboard/use-shortcuts';
import { useApprovalFeed } from '@/components/realtime/feed';
import type { QueueItem } from '@/server/approvals/queue';
import { type QueueFilters, type QueueState, QueueSync } from './queue-state';
import { Countdown, formatAge, useNow } from './time';

export type { QueueFilters } from './queue-state';
export type Facets = { upstreams: string[]; agents: string[]; tools: string[] };

type Props = {
  initial: { items: QueueItem[]; total: number };
  filters: QueueFilters;
  facets: Facets;
  canDecide: boolean;
  userEmail: string;
  empty: React.ReactNode;
  grants: React.ReactNode;
};

const PAGE = 50;

function queryString(f: QueueFilters, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...f, ...extra })) if (v && !(k === 'sort' && v === 'age')) params.set(k, String(v));
  return params.toString();
}

/** A page of the queue from the API; null when it could not be read. */
async function readQueue(filters: QueueFilters, limit: number): Promise<{ items: QueueItem[]; total: number } | null> {
  const response = await fetch(`/api/queue?${queryString(filters, { status: 'pending', limit: String(limit) })}`, {
    cache: 'no-store',
  }).catch(() => null);
  if (response?.status === 401) {
    window.location.assign('/signin?expired=1');
    return null;
  }
  if (!response?.ok) return null;
  return (await response.json().catch(() => null)) as { items: QueueItem[]; total: number } | null;
}

/**
 * The live queue: pending requests, updated from socket events (a new one appears, a decided
 * one leaves) and reloaded from the API on every (re)connect (invariant 6).
 */
export function QueueView({ initial, filters, facets, canDecide, userEmail, empty, grants }: Props) {
  const router = useRouter();
  const now = useNow();
  const [state, setState] = useState<QueueState>({ items: initial.items, total: initial.total, unseen: 0 });
  const { items, total, unseen } = state;
  // the selection is a request, not a position: the list changes under the reviewer (rows leave
  // when decided elsewhere, arrive in sort order), and `a` must approve the request they chose
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [deciding, setDeciding] = useState(false);
  const [notice, setNotice] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const search = useRef<HTMLInputElement>(null);
  const list = useRef<HTMLOListElement>(null);

  // reads, event buffering and the count's order live in QueueSync (queue-state.ts, unit-tested)
  const sync = useRef<QueueSync | null>(null);
  sync.current ??= new QueueSync(state, filters, { pageSize: PAGE, read: readQueue, onState: setState });
  useEffect(() => {
    sync.current?.reset({ items: initial.items, total: initial.total, unseen: 0 }, filters);
  }, [initial, filters]);
  useEffect(() => {
    const current = sync.current;
    current?.start();
    return () => current?.stop();
  }, []);

  const feed = useApprovalFeed({ onEvent: (event) => sync.current?.event(event), onResync: () => void sync.current?.resync() });

  useEffect(() => {
    document.title = total > 0 ? `(${total}) Queue · Airlock` : 'Queue · Airlock';
  }, [total]);

  // a selected request that left the list (decided, expired) leaves nothing selected: the keys
  // act on no neighbour the reviewer did not choose
  const selected = items.findIndex((item) => item.id === selectedId);
  const current = selected === -1 ? undefined : items[selected];

  function focusRow(index: number) {
    const item = items[index];
    if (!item) return;
    setSelectedId(item.id);
    list.current?.querySelector<HTMLAnchorElement>(`li[data-request-id="${CSS.escape(item.id)}"] a.queue-link`)?.focus();
  }

  async function approve(item: QueueItem) {
    // one decision at a time: a held or repeated key does not approve row after row
    if (deciding) return;
    setDeciding(true);
    try {
      const response = await fetch(`/api/approvals/${item.id}/decision`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ decision: 'approve' }),
      }).catch(() => null);
      if (!response) return setNotice({ kind: 'error', text: 'Network error: nothing was decided.' });
      if (response.ok) {
        const what = item.argumentsPreview ? ` (${item.argumentsPreview})` : '';
        return setNotice({ kind: 'ok', text: `Approved ${item.tool}${what} for ${item.agent.name}.` });
      }
      const body = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
      setNotice({ kind: 'error', text: body?.error?.message ?? `Could not approve (HTTP ${response.status}).` });
    } finally {
      setDeciding(false);
    }
  }

  useShortcuts({
    j: () => focusRow(selected === -1 ? 0 : Math.min(items.length - 1, selected + 1)),
    k: () => focusRow(selected === -1 ? 0 : Math.max(0, selected - 1)),
    o: () => current && router.push(`/approvals/${current.id}`),
    a: () => current && canDecide && void approve(current),
    d: () => current && canDecide && router.push(`/approvals/${current.id}?action=deny`),
    e: () => current && canDecide && router.push(`/approvals/${current.id}?action=edit`),
    '/': () => search.current?.focus(),
  });

  const setFilter = (patch: Partial<QueueFilters>) => {
    const next = { ...filters, ...patch };
    router.replace(`/?${queryString(next)}`);
  };

  const filtered = useMemo(() => Boolean(filters.upstream || filters.agent || filters.tool || filters.risk || filters.q), [filters]);

  return (
    <div className="stack">
      <div className="page-title">
        <h1>
          Queue <span className="visually-hidden">,</span>
          <span className="badge">
            {total}
            <span className="visually-hidden"> pending</span>
          </span>
        </h1>
        <span className={`live live-${feed}`} role="status">
          {feed === 'live' ? 'Live' : feed === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
        </span>
      </div>

      <search>
        <form className="filters" onSubmit={(e) => e.preventDefault()}>
          <label className="visually-hidden" htmlFor="queue-search">
            Search pending requests
          </label>
          <input
            id="queue-search"
            ref={search}
            type="search"
            placeholder="Search (press /)"
            defaultValue={filters.q ?? ''}
            onKeyDown={(e) => {
              if (e.key === 'Enter') setFilter({ q: e.currentTarget.value.trim() || undefined });
              if (e.key === 'Escape') e.currentTarget.blur();
            }}
          />
          <FilterSelect
            label="Sort"
            value={filters.sort}
            options={[
              ['age', 'Oldest first'],
              ['time-left', 'Least time left'],
              ['newest', 'Newest first'],
            ]}
            onChange={(v) => setFilter({ sort: v as QueueFilters['sort'] })}
          />
          <FilterSelect
            label="Upstream"
            value={filters.upstream}
            options={facets.upstreams.map((u) => [u, u])}
            onChange={(v) => setFilter({ upstream: v || undefined })}
            all
          />
          <FilterSelect
            label="Agent"
            value={filters.agent}
            options={facets.agents.map((a) => [a, a])}
            onChange={(v) => setFilter({ agent: v || undefined })}
            all
          />
          <FilterSelect
            label="Tool"
            value={filters.tool}
            options={facets.tools.map((t) => [t, t])}
            onChange={(v) => setFilter({ tool: v || undefined })}
            all
          />
          <FilterSelect
            label="Risk"
            value={filters.risk}
            options={[
              ['high', 'High'],
              ['medium', 'Medium'],
              ['low', 'Low'],
            ]}
            onChange={(v) => setFilter({ risk: (v || undefined) as QueueFilters['risk'] })}
            all
          />
          {filtered ? (
            <button
              type="button"
              className="btn btn-small"
              onClick={() => router.replace(filters.sort === 'age' ? '/' : `/?sort=${filters.sort}`)}
            >
              Clear filters
            </button>
          ) : null}
        </form>
      </search>

      {notice ? (
        <p className={`alert ${notice.kind === 'ok' ? 'alert-ok' : 'alert-error'}`} role={notice.kind === 'ok' ? 'status' : 'alert'}>
          <VisibleText text={notice.text} />
        </p>
      ) : null}

      {grants}

      {unseen > 0 ? (
        <p className="alert alert-warn" role="status">
          {unseen} new request{unseen > 1 ? 's' : ''} arrived beyond this page.{' '}
          <Link href={`/?${queryString({ ...filters, sort: 'newest' })}`}>Show newest first</Link>
        </p>
      ) : null}

      {items.length === 0 ? (
        filtered ? (
          <p className="card muted">No pending request matches these filters.</p>
        ) : (
          empty
        )
      ) : (
        <ol ref={list} className="queue" aria-label="Pending requests">
          {items.map((item) => (
            <li
              key={item.id}
              className={`queue-item risk-${item.riskLevel}`}
              data-selected={item.id === selectedId || undefined}
              data-request-id={item.id}
            >
              <Link className="queue-link" href={`/approvals/${item.id}`} onFocus={() => setSelectedId(item.id)}>
                <span className="queue-tool mono">
                  <VisibleText text={item.tool} />
                </span>
                <span className="muted"> on {item.upstream}</span>
              </Link>
              <div className="queue-meta">
                <span>
                  by <strong>{item.agent.name}</strong>
                  {item.agent.ownerEmail === userEmail ? <span className="badge">your agent</span> : null}
                </span>
                <RiskBadges level={item.riskLevel} flags={item.riskFlags} />
              </div>
              {item.argumentsPreview ? (
                <p className="queue-args mono">
                  <VisibleText text={item.argumentsPreview} />
                </p>
              ) : null}
              <div className="queue-meta muted">
                <span suppressHydrationWarning>{formatAge(now - new Date(item.createdAt).getTime())}</span>
                <Countdown expiresAt={item.expiresAt} now={now} />
                {item.requiredApprovals > 1 ? (
                  <span>
                    {item.approvals} of {item.requiredApprovals} approvals
                  </span>
                ) : null}
                <span>rule {item.rule.id}</span>
              </div>
            </li>
          ))}
        </ol>
      )}
      {total > items.length ? (
        <p className="muted">
          Showing the first {items.length} of {total}. Narrow the filters to see others.
        </p>
      ) : null}
    </div>
  );
}

function FilterSelect({
  label,
  value,
  options,
  onChange,
  all,
}: {
  label: string;
  value: string | undefined;
  options: [string, string][];
  onChange: (value: string) => void;
  all?: boolean;
}) {
  const id = `filter-${label.toLowerCase()}`;
  return (
    <span className="filter">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value ?? ''} onChange={(e) => onChange(e.target.value)}>
        {all ? <option value="">All</option> : null}
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </span>
  );
}
