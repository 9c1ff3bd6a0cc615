import type { Metadata } from 'next';
import { EmptyQueue } from '@/components/queue/empty-state';
import { GrantsPanel } from '@/components/queue/grants-panel';
import { type QueueFilters, QueueView } from '@/components/queue/queue-view';
import { listActiveGrants } from '@/server/approvals/grants';
import { listQueue, queueFacets } from '@/server/approvals/queue';
import { allowed, requirePageUser } from '@/server/http/page-user';
import { db, runtime } from '@/server/runtime';

export const metadata: Metadata = { title: 'Queue · Airlock' };
export const dynamic = 'force-dynamic';

type Props = { searchParams: Promise<Record<string, string | string[] | undefined>> };

// a filter PostgreSQL could not even compare (U+0000) matches nothing: it is dropped, not a 500
const one = (v: string | string[] | undefined) =>
  typeof v === 'string' && v !== '' && !v.includes('\u0000') ? v.slice(0, 200) : undefined;

// / — the pending approval requests, live
export default async function QueuePage({ searchParams }: Props) {
  const user = await requirePageUser('/');
  const params = await searchParams;
  const risk = one(params.risk);
  const filters: QueueFilters = {
    upstream: one(params.upstream),
    agent: one(params.agent),
    tool: one(params.tool),
    risk: risk === 'high' || risk === 'medium' || risk === 'low' ? risk : undefined,
    q: one(params.q),
    sort: params.sort === 'time-left' || params.sort === 'newest' ? params.sort : 'age',
  };
  const [page, facets, grants] = await Promise.all([
    listQueue(db().orm, { status: 'pending', ...filters, limit: 50 }),
    queueFacets(db().orm),
    listActiveGrants(db().orm),
  ]);
  const { config, publicUrl } = runtime();
  return (
    <QueueView
      initial={page}
      filters={filters}
      facets={facets}
      canDecide={allowed(user, 'approvals.decide')}
      userEmail={user.email}
      grants={
        <GrantsPanel
          initial={grants.map((g) => ({ ...g, expiresAt: g.expiresAt.toISOString() }))}
          canRevoke={allowed(user, 'approvals.decide')}
        />
      }
      empty={
        <EmptyQueue publicUrl={publicUrl} upstreams={Object.keys(config.upstreams)} canManageAgents={allowed(user, 'agents.manage')} />
      }
    />
  );
}
