import { formatTime } from './format';
import { RevocationStatus } from './revocation-status';
import { RevokeButton } from './revoke-button';

export type TokenRowData = {
  id: string;
  name: string;
  userEmail: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
};

/** Personal API tokens (never the secrets), active first; an active one can be revoked after a confirmation. */
export function TokenTable({ tokens }: { tokens: TokenRowData[] }) {
  if (tokens.length === 0)
    return (
      <p className="muted">
        No API tokens yet. Create one above, or with <code>npx airlock token add --user EMAIL</code>.
      </p>
    );
  return (
    <div className="table-wrap">
      <table className="data admin-table">
        <caption className="visually-hidden">Personal API tokens</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Acts as</th>
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">Status</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {tokens.map((token) => (
            <tr key={token.id} className={token.revokedAt ? 'admin-row-disabled' : undefined}>
              <td data-label="Name">
                <span className="admin-strong mono">{token.name}</span>
              </td>
              <td data-label="Acts as">{token.userEmail}</td>
              <td data-label="Created">
                <time dateTime={token.createdAt}>{formatTime(token.createdAt)}</time>
              </td>
              <td data-label="Last used">
                {token.lastUsedAt ? (
                  <time dateTime={token.lastUsedAt}>{formatTime(token.lastUsedAt)}</time>
                ) : (
                  <span className="muted">never</span>
                )}
              </td>
              <td data-label="Status">
                <RevocationStatus revokedAt={token.revokedAt} />
              </td>
              <td data-label="Actions">
                {token.revokedAt ? (
                  <span className="muted">—</span>
                ) : (
                  <RevokeButton
                    path={`/api/tokens/${encodeURIComponent(token.id)}`}
                    name={`${token.name} of ${token.userEmail}`}
                    consequence="Scripts using it are refused at once; it cannot be restored."
                  />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
