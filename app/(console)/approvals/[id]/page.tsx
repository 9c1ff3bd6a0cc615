import type { Metadata } from 'next';
import Link from 'next/link';
import { notFound } from 'next/navigation';
import { ArgumentView } from '@/components/approvals/argument-view';
import { DecisionBar } from '@/components/approvals/decision-bar';
import { LiveRefresh } from '@/components/approvals/live-refresh';
import { RequestClock } from '@/components/approvals/request-clock';
import { RiskBadges } from '@/components/approvals/risk-badges';
import { UntrustedText, VisibleText } from '@/components/approvals/untrusted-text';
import { maskArguments } from '@/server/approvals/masking';
import { getRequestDetail } from '@/server/approvals/queries';
import { similarDecisions } from '@/server/approvals/queue';
import { reviewRights } from '@/server/approvals/rights';
import { checkArguments } from '@/server/approvals/schema-check';
import type { RuleSnapshot } from '@/server/approvals/types';
import { requirePageUser } from '@/server/http/page-user';
import { isAirlockError } from '@/server/lib/errors';
import type { RiskFlag, RiskLevel } from '@/server/lib/inspect';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Request · Airlock' };

type Props = { params: Promise<{ id: string }> };

type ToolDefinition = { name?: string; title?: string; description?: string; inputSchema?: unknown; annotations?: Record<string, unknown> };

// /approvals/:id — everything a reviewer needs to decide one held call
export default async function RequestPage({ params }: Props) {
  const { id } = await params;
  const user = await requirePageUser(`/approvals/${id}`);
  let request: Awaited<ReturnType<typeof getRequestDetail>>;
  try {
    request = await getRequestDetail(db().orm, id);
  } catch (error) {
    if (isAirlockError(error) && error.code === 'not_found') notFound();
    throw error;
  }
  const tool = (request.toolDefinition ?? {}) as ToolDefinition;
  const rule = request.rule as RuleSnapshot;
  const [similar] = await Promise.all([
    similarDecisions(db().orm, {
      upstream: request.upstream,
      tool: request.tool,
      argumentsDigest: request.argumentsDigest,
      excludeId: request.id,
    }),
  ]);
  const violations = checkArguments(tool.inputSchema, request.arguments);
  const pending = request.status === 'pending';
  const rights = reviewRights({ reviewer: user, request: { ...request, rule }, ownerId: request.agent.ownerId });
  const alreadyVoted = request.votes.some((v) => v.userId === user.id);
  const annotations = Object.entries(tool.annotations ?? {}).filter(([, v]) => typeof v === 'boolean');

  return (
    <article className="request" aria-labelledby="request-title">
      <LiveRefresh requestId={request.id} />
      <p>
        <Link href="/">← Queue</Link>
      </p>
      <header className="stack">
        <h1 id="request-title" className="request-title">
          <span className="mono">
            <VisibleText text={request.tool} />
          </span>{' '}
          <span className="muted">on {request.upstream}</span>
        </h1>
        <div className="row">
          <span className={`badge status-${request.status}`}>{request.status}</span>
          <RiskBadges level={request.riskLevel as RiskLevel} flags={request.riskFlags as RiskFlag[]} />
        </div>
        {pending ? (
          <RequestClock expiresAt={request.expiresAt.toISOString()} approvals={request.approvals} required={request.requiredApprovals} />
        ) : null}
      </header>

      {pending ? (
        <DecisionBar
          requestId={request.id}
          tool={request.tool}
          approveBlocked={rights.approve?.message ?? null}
          decideBlocked={rights.decide?.message ?? null}
          alreadyVoted={alreadyVoted}
          allowEdit={rights.edit}
          maxGrantMinutes={rights.maxGrantMinutes}
        />
      ) : (
        <section className={`card outcome outcome-${request.status}`} aria-label="Outcome" role="status">
          <h2>
            {request.status === 'approved'
              ? 'Approved'
              : request.status === 'denied'
                ? 'Denied'
                : request.status === 'expired'
                  ? 'Expired'
                  : 'Cancelled'}
          </h2>
          <dl className="facts">
            {request.decidedByEmail ? (
              <>
                <dt>By</dt>
                <dd>{request.decidedByEmail}</dd>
              </>
            ) : null}
            {request.decidedAt ? (
              <>
                <dt>At</dt>
                <dd>
                  <time dateTime={request.decidedAt.toISOString()}>
                    {request.decidedAt.toISOString().replace('T', ' ').slice(0, 19)} UTC
                  </time>
                </dd>
              </>
            ) : null}
            {request.reason ? (
              <>
                <dt>Reason</dt>
                <dd>
                  <UntrustedText text={request.reason} />
                </dd>
              </>
            ) : null}
            {request.execution ? (
              <>
                <dt>Executed</dt>
                <dd data-execution={request.execution.state}>
                  <UntrustedText text={request.execution.text} />
                </dd>
              </>
            ) : null}
          </dl>
          {request.approvedArgumentsDigest && request.approvedArgumentsDigest !== request.argumentsDigest ? (
            <div className="stack">
              <h3>Approved arguments (edited by the reviewer)</h3>
              <ArgumentView
                masked={maskArguments(request.approvedArguments)}
                requestId={request.id}
                which="approved"
                label="Approved arguments"
              />
            </div>
          ) : null}
        </section>
      )}

      <section className="card" aria-labelledby="why-title">
        <h2 id="why-title">Why it was held</h2>
        <p>
          Rule <code>{rule.id}</code>: <UntrustedText text={rule.reason ?? 'no reason given'} />
        </p>
        <p className="muted">
          Needs {request.requiredApprovals} approval{request.requiredApprovals > 1 ? 's' : ''} from {request.approverRoles.join(' or ')}{' '}
          reviewers (admins always may).
        </p>
      </section>

      <section className="card" aria-labelledby="who-title">
        <h2 id="who-title">Who is asking</h2>
        <dl className="facts">
          <dt>Agent</dt>
          <dd>
            <strong>{request.agent.name}</strong>
          </dd>
          <dt>Owner</dt>
          <dd>
            {request.agent.ownerEmail}
            {request.agent.ownerId === user.id ? ' (you)' : ''}
          </dd>
          <dt>MCP session</dt>
          <dd className="mono">{request.sessionId}</dd>
          <dt>Requested</dt>
          <dd>
            <time dateTime={request.createdAt.toISOString()}>{request.createdAt.toISOString().replace('T', ' ').slice(0, 19)} UTC</time>
          </dd>
        </dl>
      </section>

      <section className="card stack" aria-labelledby="args-title">
        <h2 id="args-title">Arguments</h2>
        {violations.length > 0 ? (
          <div className="alert alert-warn" role="note">
            <strong>The arguments do not match the tool’s input schema:</strong>
            <ul>
              {violations.map((v) => (
                <li key={`${v.path}:${v.message}`}>
                  <code>
                    <VisibleText text={v.path || '/'} />
                  </code>{' '}
                  <VisibleText text={v.message} />
                </li>
              ))}
            </ul>
          </div>
        ) : (
          <p className="muted">The arguments match the tool’s input schema.</p>
        )}
        {/* invariant 8: client props are serialized into the page, so secrets are masked here, on the server */}
        <ArgumentView masked={maskArguments(request.arguments)} requestId={request.id} label="Arguments" />
        <p className="muted mono digest">SHA-256 {request.argumentsDigest}</p>
      </section>

      <section className="card stack" aria-labelledby="tool-title">
        <h2 id="tool-title">The tool, as its server describes it</h2>
        {tool.title ? (
          <p>
            <strong>
              <UntrustedText text={tool.title} />
            </strong>
          </p>
        ) : null}
        {tool.description ? <UntrustedText text={tool.description} /> : <p className="muted">No description.</p>}
        <div className="row">
          {annotations.length === 0 ? <span className="badge">no annotations</span> : null}
          {annotations.map(([key, value]) => (
            <span key={key} className="badge">
              {key}: {String(value)}
            </span>
          ))}
        </div>
        <p className="muted">Annotations are the server’s own claims; rules decide.</p>
        <p className="muted mono digest">definition SHA-256 {request.toolDefinitionHash}</p>
      </section>

      <section className="card" aria-labelledby="similar-title">
        <h2 id="similar-title">Similar past decisions</h2>
        <SimilarSummary similar={similar} tool={request.tool} />
      </section>

      <section className="card" aria-labelledby="timeline-title">
        <h2 id="timeline-title">Earlier in this session</h2>
        {request.session.length === 0 ? (
          <p className="muted">This is the session’s first call through Airlock.</p>
        ) : (
          <ol className="timeline">
            {request.session.map((entry) => (
              <li key={entry.seq}>
                <time dateTime={entry.at.toISOString()} className="muted">
                  {entry.at.toISOString().slice(11, 19)}
                </time>{' '}
                <code>
                  <VisibleText text={entry.tool} />
                </code>{' '}
                — {entry.requestId ? <Link href={`/approvals/${entry.requestId}`}>{entry.outcome}</Link> : entry.outcome}
              </li>
            ))}
          </ol>
        )}
      </section>

      {request.votes.length > 0 ? (
        <section className="card" aria-labelledby="votes-title">
          <h2 id="votes-title">Votes</h2>
          <ul>
            {request.votes.map((v) => (
              <li key={v.userId}>
                {v.email}: <strong>{v.decision}</strong>
                {v.reason ? (
                  <>
                    {' '}
                    — <UntrustedText text={v.reason} />
                  </>
                ) : null}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
    </article>
  );
}

function SimilarSummary({ similar, tool }: { similar: Awaited<ReturnType<typeof similarDecisions>>; tool: string }) {
  const phrase = (tally: Record<string, number>) =>
    Object.entries(tally)
      .filter(([status]) => status !== 'pending')
      .map(([status, n]) => `${status} ${n}`)
      .join(', ');
  const identical = phrase(similar.identical);
  const same = phrase(similar.sameTool);
  return (
    <ul>
      <li>
        {identical
          ? `Identical calls in the last ${similar.days} days: ${identical}.`
          : `No identical call in the last ${similar.days} days.`}
      </li>
      <li>
        {same
          ? `Other ${tool} calls on this upstream: ${same}.`
          : `No other ${tool} call on this upstream in the last ${similar.days} days.`}
      </li>
    </ul>
  );
}
