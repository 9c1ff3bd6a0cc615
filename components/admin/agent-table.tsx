import { formatTime } from './format';
import { RevocationStatus } from './revocation-status';
import { RevokeButton } from './revoke-button';

export type AgentRowData = {
  id: string;
  name: string;
  ownerEmail: string;
  upstreams: string[];
  createdAt: string;
  revokedAt: string | null;
};

/** Every agent, active first; an active one can be revoked after a confirmation. */
export function AgentTable({ agents }: { agents: AgentRowData[] }) {
  if (agents.length === 0) return <p className="muted">No agents yet. Create one to connect an MCP client.</p>;
  return (
    <div className="table-wrap">
      <table className="data admin-table">
        <caption className="visually-hidden">Agents</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Owner</th>
            <th scope="col">Upstreams</th>
            <th scope="col">Created</th>
            <th scope="col">Status</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {agents.map((agent) => (
            <AgentRow key={agent.id} agent={agent} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function AgentRow({ agent }: { agent: AgentRowData }) {
  return (
    <tr className={agent.revokedAt ? 'admin-row-disabled' : undefined}>
      <td data-label="Name">
        <span className="admin-strong mono">{agent.name}</span>
      </td>
      <td data-label="Owner">{agent.ownerEmail}</td>
      <td data-label="Upstreams">
        {agent.upstreams.length === 0 ? (
          <span className="badge">all</span>
        ) : (
          <span className="admin-badges">
            {agent.upstreams.map((name) => (
              <span key={name} className="badge mono">
                {name}
              </span>
            ))}
          </span>
        )}
      </td>
      <td data-label="Created">
        <time dateTime={agent.createdAt}>{formatTime(agent.createdAt)}</time>
      </td>
      <td data-label="Status">
        <RevocationStatus revokedAt={agent.revokedAt} />
      </td>
      <td data-label="Actions">
        {agent.revokedAt ? (
          <span className="muted">—</span>
        ) : (
          <RevokeButton
            path={`/api/agents/${encodeURIComponent(agent.id)}`}
            name={agent.name}
            consequence="Its token stops working at once and cannot be restored."
          />
        )}
      </td>
    </tr>
  );
}
