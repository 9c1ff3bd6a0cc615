import type { Metadata } from 'next';
import Link from 'next/link';
import { VisibleText } from '@/components/approvals/untrusted-text';
import { listQueue, queueFacets, ZQueueQuery } from '@/server/approvals/queue';
import { requirePageUser } from '@/server/http/page-user';
import { db } from '@/server/runtime';

export const metadata: Metadata = { title: 'History · Airlock' };
export const dynamic = 'force-dynamic';

type Props = { searchParams: Promise<Record<string, string | string[] | undefined>> };

const PAGE = 50;
const STATUSES = [
  ['decided', 'Any outcome'],
  ['approved', 'Approved'],
  ['denied', 'Denied'],
  ['expired', 'Expired'],
  ['cancelled', 'Cancelled'],
] as const;

function durationText(from: string, to: string | null): string {
  if (!to) return '—';
  const seconds = Math.round((new Date(to).getTime() - new Date(from).getTime()) / 1000);
  return seconds < 60 ? `${seconds}s` : seconds < 3600 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`;
}

// /history — decided requests: outcome, reviewer, reason and time to decision; filter and search
export default async function HistoryPage({ searchParams }: Props) {
  await requirePageUser('/history');
  const raw = await searchParams;
  const input = Object.fromEntries(
    Object.entries(raw).filter(([, v]) => typeof v === 'string' && v !== '' && !v.includes('\u0000')),
  ) as Record<string, string>;
  const parsed = ZQueueQuery.safeParse({ status: 'decided', ...input, sort: 'newest', limit: PAGE });
  const query = parsed.success ? parsed.data : ZQueueQuery.parse({ status: 'decided', sort: 'newest', limit: PAGE });
  const [page, facets] = await Promise.all([listQueue(db().orm, query), queueFacets(db().orm)]);
  const link = (offset: number) => `/history?${new URLSearchParams({ ...input, offset: String(offset) }).toString()}`;

  return (
    <div className="stack">
      <div className="page-title">
        <h1>History</h1>
        <span className="muted">{page.total} decided</span>
      </div>
      {!parsed.success ? <p className="alert alert-warn">Some filters were not valid and were ignored.</p> : null}
      <search>
        <form className="filters" method="get">
          <span className="filter">
            <label htmlFor="h-q">Search</label>
            <input id="h-q" name="q" type="search" defaultValue={query.q ?? ''} placeholder="tool, upstream, agent, reason" />
          </span>
          <span className="filter">
            <label htmlFor="h-status">Outcome</label>
            <select id="h-status" name="status" defaultValue={query.status}>
              {STATUSES.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </span>
          {(
            [
              ['upstream', 'Upstream', facets.upstreams],
              ['agent', 'Agent', facets.agents],
              ['tool', 'Tool', facets.tools],
            ] as const
          ).map(([name, label, options]) => (
            <span className="filter" key={name}>
              <label htmlFor={`h-${name}`}>{label}</label>
              <select id={`h-${name}`} name={name} defaultValue={query[name] ?? ''}>
                <option value="">All</option>
                {options.map((o) => (
                  <option key={o} value={o}>
                    {o}
                  </option>
                ))}
              </select>
            </span>
          ))}
          <span className="filter">
            <label htmlFor="h-reviewer">Reviewer</label>
            <input id="h-reviewer" name="reviewer" type="email" defaultValue={query.reviewer ?? ''} placeholder="email" />
          </span>
          <button className="btn btn-primary" type="submit">
            Filter
          </button>
        </form>
      </search>
      {page.items.length === 0 ? (
        <p className="card muted">No decided request matches.</p>
      ) : (
        <div className="table-wrap">
          <table className="data history">
            <thead>
              <tr>
                <th scope="col">Requested</th>
                <th scope="col">Call</th>
                <th scope="col">Agent</th>
                <th scope="col">Outcome</th>
                <th scope="col">Reviewer</th>
                <th scope="col">Reason</th>
                <th scope="col">Time to decision</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((item) => (
                <tr key={item.id}>
                  <td>
                    <time dateTime={item.createdAt}>{item.createdAt.replace('T', ' ').slice(0, 16)}</time>
                  </td>
                  <td>
                    <Link href={`/approvals/${item.id}`}>
                      <code>
                        <VisibleText text={item.tool} />
                      </code>
                    </Link>{' '}
                    <span className="muted">on {item.upstream}</span>
                  </td>
                  <td>{item.agent.name}</td>
                  <td className={`status-${item.status}`}>
                    {item.status}
                    {item.status === 'approved' && !item.executedAt ? <span className="muted"> (not run)</span> : null}
                  </td>
                  <td>{item.decidedBy ?? <span className="muted">—</span>}</td>
                  <td>{item.reason ?? <span className="muted">—</span>}</td>
                  <td>{durationText(item.createdAt, item.decidedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav className="row" aria-label="Pages">
        {query.offset > 0 ? (
          <Link className="btn" href={link(Math.max(0, query.offset - PAGE))}>
            Newer
          </Link>
        ) : null}
        {query.offset + PAGE < page.total ? (
          <Link className="btn" href={link(query.offset + PAGE)}>
            Older
          </Link>
        ) : null}
      </nav>
    </div>
  );
}
