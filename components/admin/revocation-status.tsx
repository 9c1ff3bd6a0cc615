import { formatTime } from './format';

/** "active", or "revoked" with when: the status cell of an agent or a token. */
export function RevocationStatus({ revokedAt }: { revokedAt: string | null }) {
  if (!revokedAt) return <span className="badge badge-low">active</span>;
  return (
    <span>
      <span className="badge badge-high">revoked</span>{' '}
      <time dateTime={revokedAt} className="muted">
        {formatTime(revokedAt)}
      </time>
    </span>
  );
}
