'use client';

import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { ConfirmButton } from './confirm-button';
import { apiRequest } from './request';

type Props = {
  /** The resource to DELETE, e.g. `/api/agents/<id>`. */
  path: string;
  /** What is revoked, as the person reads it in the list, e.g. "ci-bot". */
  name: string;
  /** What happens, shown before the second press. */
  consequence: string;
};

/** Revoke one row of an admin list after a confirmation, then re-render the page; errors stay on the row. */
export function RevokeButton({ path, name, consequence }: Props) {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function revoke() {
    setBusy(true);
    setError(null);
    const result = await apiRequest(path, 'DELETE');
    setBusy(false);
    if (!result.ok) return setError(result.message);
    router.refresh();
  }

  return (
    <>
      <ConfirmButton
        label="Revoke"
        ariaLabel={`Revoke ${name}`}
        question={`Revoke ${name}? ${consequence}`}
        confirmLabel={`Yes, revoke ${name}`}
        busy={busy}
        danger
        onConfirm={revoke}
      />
      {error ? (
        <p className="alert alert-error admin-row-message" role="alert">
          {error}
        </p>
      ) : null}
    </>
  );
}
