import type { ToolListing, UpstreamListing } from '@/server/config/upstream-tools';
import { VisibleText } from '../approvals/untrusted-text';
import { formatTime } from './format';

const HINT_LABELS: Record<string, [whenTrue: string, whenFalse: string]> = {
  readOnlyHint: ['read-only', 'not read-only'],
  destructiveHint: ['destructive', 'not destructive'],
  idempotentHint: ['idempotent', 'not idempotent'],
  openWorldHint: ['open world', 'closed world'],
};

const ACTIONS: Record<ToolListing['verdict']['action'], { label: string; className: string }> = {
  allow: { label: 'allow', className: 'badge badge-low' },
  deny: { label: 'deny', className: 'badge badge-high' },
  require_approval: { label: 'require approval', className: 'badge badge-medium' },
};

/**
 * Configured upstreams, read-only: how each is reached (secrets masked) and what the rules do
 * with each tool it last listed. Tool text comes from the upstream: rendered as text only.
 */
export function UpstreamList({ upstreams }: { upstreams: UpstreamListing[] }) {
  if (upstreams.length === 0)
    return (
      <p className="muted">
        No upstream is configured. Add one under <code>upstreams</code> in the config file.
      </p>
    );
  return (
    <div className="stack">
      {upstreams.map((upstream) => (
        <section key={upstream.name} className="card stack" aria-labelledby={`upstream-${upstream.name}`}>
          <div className="row">
            <h2 id={`upstream-${upstream.name}`} style={{ margin: 0 }}>
              {upstream.name}
            </h2>
            <span className="badge">{upstream.transport === 'stdio' ? 'stdio' : 'Streamable HTTP'}</span>
            <span
              className="badge"
              title={upstream.config.shared ? 'one connection serves every agent session' : 'one connection per agent session'}
            >
              {upstream.config.shared ? 'shared' : 'per session'}
            </span>
          </div>
          <div>
            <Declaration upstream={upstream} />
          </div>
          <Tools upstream={upstream} />
        </section>
      ))}
    </div>
  );
}

function Declaration({ upstream }: { upstream: UpstreamListing }) {
  const config = upstream.config;
  if (config.transport === 'http') {
    const headers = Object.keys(config.headers);
    return (
      <dl className="facts">
        <dt>URL</dt>
        <dd className="mono">{config.url}</dd>
        {headers.length > 0 ? (
          <>
            <dt>Headers</dt>
            <dd className="mono">{headers.map((name) => `${name}: ***`).join(', ')}</dd>
          </>
        ) : null}
      </dl>
    );
  }
  const env = Object.keys(config.env);
  return (
    <dl className="facts">
      <dt>Command</dt>
      <dd className="mono">{[config.command, ...config.args].join(' ')}</dd>
      {config.cwd ? (
        <>
          <dt>Working directory</dt>
          <dd className="mono">{config.cwd}</dd>
        </>
      ) : null}
      {env.length > 0 ? (
        <>
          <dt>Environment</dt>
          <dd className="mono">{env.map((name) => `${name}=***`).join(' ')}</dd>
        </>
      ) : null}
    </dl>
  );
}

function Tools({ upstream }: { upstream: UpstreamListing }) {
  if (!upstream.tools) return <p className="alert">Tools not listed yet — tools appear once an agent connects.</p>;
  if (upstream.tools.length === 0) return <p className="muted">The upstream listed no tools.</p>;
  return (
    <div className="stack">
      <p className="muted">
        {upstream.tools.length} tool{upstream.tools.length === 1 ? '' : 's'}, as last listed
        {upstream.toolsListedAt ? (
          <>
            {' '}
            at <time dateTime={new Date(upstream.toolsListedAt).toISOString()}>{formatTime(upstream.toolsListedAt)}</time>
          </>
        ) : null}
        . Actions follow the current rules.
      </p>
      <div className="table-wrap">
        <table className="data admin-table">
          <caption className="visually-hidden">Tools of {upstream.name}</caption>
          <thead>
            <tr>
              <th scope="col">Tool</th>
              <th scope="col">Annotations</th>
              <th scope="col">Action</th>
            </tr>
          </thead>
          <tbody>
            {upstream.tools.map((tool) => (
              <tr key={tool.name}>
                <td data-label="Tool">
                  {/* invariant 8: names and descriptions come from the server; invisible characters are marked */}
                  <span className="admin-strong mono">
                    <VisibleText text={tool.name} />
                  </span>
                  {tool.title ? (
                    <div>
                      <VisibleText text={tool.title} />
                    </div>
                  ) : null}
                  {tool.description ? (
                    <div className="muted admin-clamp">
                      <VisibleText text={tool.description} />
                    </div>
                  ) : null}
                </td>
                <td data-label="Annotations">
                  <Annotations annotations={tool.annotations} />
                </td>
                <td data-label="Action">
                  <Verdict verdict={tool.verdict} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function Annotations({ annotations }: { annotations: Record<string, boolean> }) {
  const entries = Object.entries(annotations).filter(([key]) => key in HINT_LABELS);
  if (entries.length === 0) return <span className="muted">none</span>;
  return (
    <span className="admin-badges">
      {entries.map(([key, value]) => (
        <span key={key} className={key === 'destructiveHint' && value ? 'badge badge-high' : 'badge'} title={`${key}: ${value}`}>
          {HINT_LABELS[key][value ? 0 : 1]}
        </span>
      ))}
    </span>
  );
}

function Verdict({ verdict }: { verdict: ToolListing['verdict'] }) {
  const action = ACTIONS[verdict.action];
  return (
    <div className="admin-verdict">
      <span className={action.className}>{action.label}</span>
      <div className="muted">
        rule <code>{verdict.ruleId}</code>
        {verdict.action === 'require_approval' ? (
          <>
            {' '}
            · quorum {verdict.quorum} · approvers: {verdict.approvers.join(', ')}
          </>
        ) : null}
      </div>
      <div className="muted admin-clamp">{verdict.reason}</div>
    </div>
  );
}
