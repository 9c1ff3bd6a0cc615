import Link from 'next/link';
import { clientConfigs } from '@/components/admin/client-config';
import { CopyButton } from '@/components/ui/copy-button';

type Props = { publicUrl: string; upstreams: string[]; canManageAgents: boolean };

/** With nothing pending: say so, and teach how to connect an agent so there will be. */
export function EmptyQueue({ publicUrl, upstreams, canManageAgents }: Props) {
  const upstream = upstreams.includes('demo') ? 'demo' : (upstreams[0] ?? 'demo');
  const configs = clientConfigs({ publicUrl, upstream, token: '<agent token>', agentName: 'my-agent' });
  return (
    <section className="card stack empty-state" aria-labelledby="empty-title">
      <h2 id="empty-title">Nothing is waiting for review</h2>
      <p>
        When an agent calls a tool that a rule holds for approval, it appears here at once, and the agent waits for your decision. Read-only
        calls pass straight through.
      </p>
      <h3>Connect an agent</h3>
      <ol className="stack">
        <li>
          Create an agent and copy its token:{' '}
          {canManageAgents ? <Link href="/admin/agents">Admin → Agents</Link> : 'ask an admin (Admin → Agents)'}, or on the server{' '}
          <code>npm run airlock -- agent add --name my-agent --owner you@example.com</code>.
        </li>
        <li>
          Point the agent’s MCP client at <code>{`${publicUrl}/mcp/${upstream}`}</code> with the token as a bearer token. Upstreams here:{' '}
          {upstreams.map((u, i) => (
            <span key={u}>
              {i > 0 ? ', ' : ''}
              <code>{u}</code>
            </span>
          ))}
          .
        </li>
      </ol>
      {configs.map((config) => (
        <details key={config.label}>
          <summary>{config.label}</summary>
          <div className="row" style={{ justifyContent: 'flex-end' }}>
            <CopyButton value={config.text} label="Copy" ariaLabel={`Copy the ${config.label} configuration`} />
          </div>
          <pre className="code-block">{config.text}</pre>
          {config.note ? <p className="muted">{config.note}</p> : null}
        </details>
      ))}
    </section>
  );
}
