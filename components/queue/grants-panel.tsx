'use client';

import { useCallback, useState } from 'react';
import { VisibleText } from '@/components/approvals/untrusted-text';
import { useApprovalFeed } from '@/components/realtime/feed';
import { formatDuration, useNow } from './time';

export type ActiveGrant = {
  id: string;
  requestId: string;
  upstream: string;
  tool: string;
  agent: string;
  createdBy: string;
  expiresAt: string;
};

/** Session grants in force, revocable at once: a reviewer must see what they let through. */
export function GrantsPanel({ initial, canRevoke }: { initial: ActiveGrant[]; canRevoke: boolean }) {
  const [grants, setGrants] = useState(initial);
  const [error, setError] = useState<string | null>(null);
  const now = useNow();
  const reload = useCallback(async () => {
    const response = await fetch('/api/grants', { cache: 'no-store' }).catch(() => null);
    if (response?.ok) setGrants(((await response.json()) as { items: ActiveGrant[] }).items);
  }, []);
  useApprovalFeed({ onEvent: (e) => (e.status === 'approved' || e.status === 'grant') && void reload(), onResync: () => void reload() });

  const live = grants.filter((g) => new Date(g.expiresAt).getTime() > now);
  if (live.length === 0) return null;

  async function revoke(id: string) {
    const response = await fetch(`/api/grants/${id}`, { method: 'DELETE' }).catch(() => null);
    if (!response?.ok) setError('Could not revoke the grant; reload and try again.');
    await reload();
  }

  return (
    <section className="card" aria-labelledby="grants-title">
      <h2 id="grants-title">Active session grants</h2>
      {error ? (
        <p className="alert alert-error" role="alert">
          {error}
        </p>
      ) : null}
      <ul className="grants">
        {live.map((g) => (
          <li key={g.id} className="row">
            <span suppressHydrationWarning>
              <code>
                <VisibleText text={g.tool} />
              </code>{' '}
              on {g.upstream} for <strong>{g.agent}</strong>’s session, by {g.createdBy},{' '}
              {formatDuration(new Date(g.expiresAt).getTime() - now)} left
            </span>
            {canRevoke ? (
              <button type="button" className="btn btn-small btn-deny" onClick={() => void revoke(g.id)}>
                Revoke
              </button>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}
