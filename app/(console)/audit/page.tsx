import type { Metadata } from 'next';
import Link from 'next/link';
import { CopyButton } from '@/components/ui/copy-button';
import { searchAudit } from '@/server/audit/search';
import { verifyAudit } from '@/server/audit/verify';
import { allowed, requirePageUser } from '@/server/http/page-user';
import { db } from '@/server/runtime';

export const metadata: Metadata = { title: 'Audit · Airlock' };
export const dynamic = 'force-dynamic';

type Props = { searchParams: Promise<Record<string, string | string[] | undefined>> };

// a filter PostgreSQL could not even compare (U+0000) matches nothing: it is dropped, not a 500
const one = (v: string | string[] | undefined) =>
  typeof v === 'string' && v.trim() !== '' && !v.includes('\u0000') ? v.trim().slice(0, 100) : undefined;

/** The `after` cursor: a positive seq, or none (`1e999` is a number, but not a seq). */
const seq = (v: string | string[] | undefined) => {
  const n = Number(one(v));
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
};

// /audit — the hash-chained audit log: its verification, a search, and the export
export default async function AuditPage({ searchParams }: Props) {
  const user = await requirePageUser('/audit');
  if (!allowed(user, 'audit.read')) {
    return <p className="alert alert-warn">Your role ({user.role}) cannot read the audit log.</p>;
  }
  const params = await searchParams;
  const type = one(params.type);
  const requestId = one(params.requestId);
  const actorId = one(params.actorId);
  const after = seq(params.after);
  // verification reads the whole log: only when asked
  const [verification, page] = await Promise.all([
    params.verify === '1' ? verifyAudit(db().orm) : null,
    searchAudit(db().orm, { type, requestId, actorId, after, limit: 100 }),
  ]);
  const next = page.nextCursor
    ? `/audit?${new URLSearchParams({ ...(type ? { type } : {}), ...(requestId ? { requestId } : {}), ...(actorId ? { actorId } : {}), after: String(page.nextCursor) })}`
    : null;

  return (
    <div className="stack">
      <div className="page-title">
        <h1>Audit log</h1>
        <a className="btn" href="/api/audit/export" download>
          Export (JSON lines)
        </a>
      </div>
      {verification === null ? (
        <p>
          <Link className="btn" href="/audit?verify=1">
            Verify the hash chain
          </Link>
        </p>
      ) : verification.ok ? (
        <p className="alert alert-ok" role="status">
          Chain intact: {verification.count} events, head{' '}
          <code className="digest">
            {verification.count}:{verification.lastHash}
          </code>{' '}
          <CopyButton
            value={`${verification.count}:${verification.lastHash}`}
            label="Copy checkpoint"
            ariaLabel="Copy the head as a checkpoint for audit verify --checkpoint"
          />
        </p>
      ) : (
        <p className="alert alert-error" role="alert">
          Chain broken at event {verification.seq}: {verification.reason}
        </p>
      )}
      <search>
        <form className="filters" method="get">
          <span className="filter">
            <label htmlFor="a-type">Type</label>
            <input id="a-type" name="type" defaultValue={type ?? ''} placeholder="approval.* or tool.allowed" />
          </span>
          <span className="filter">
            <label htmlFor="a-request">Request id</label>
            <input id="a-request" name="requestId" defaultValue={requestId ?? ''} />
          </span>
          <span className="filter">
            <label htmlFor="a-actor">Actor id</label>
            <input id="a-actor" name="actorId" defaultValue={actorId ?? ''} />
          </span>
          <button className="btn btn-primary" type="submit">
            Search
          </button>
        </form>
      </search>
      <div className="table-wrap">
        <table className="data">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">At (UTC)</th>
              <th scope="col">Event</th>
              <th scope="col">Actor</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {page.events.map((event) => (
              <tr key={event.seq}>
                <td>{event.seq}</td>
                <td>
                  <time dateTime={event.at.toISOString()}>{event.at.toISOString().replace('T', ' ').slice(0, 19)}</time>
                </td>
                <td>
                  <code>{event.type}</code>
                  {event.requestId ? (
                    <>
                      {' '}
                      <Link href={`/approvals/${event.requestId}`}>request</Link>
                    </>
                  ) : null}
                </td>
                <td>
                  {event.actorType}
                  {event.actorId ? <span className="muted mono"> {event.actorId.slice(0, 12)}</span> : null}
                </td>
                <td>
                  <pre className="audit-payload">{JSON.stringify(event.payload, null, 1).slice(0, 600)}</pre>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {next ? (
        <Link className="btn" href={next}>
          Older events
        </Link>
      ) : null}
    </div>
  );
}
