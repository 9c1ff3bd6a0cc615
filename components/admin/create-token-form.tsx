'use client';

import { useRouter } from 'next/navigation';
import { type FormEvent, useId, useState } from 'react';
import { LabelField } from './label-field';
import { OneTimeSecret } from './one-time-secret';
import { apiRequest } from './request';

type Person = { email: string; name: string | null; role: string };
type Created = { name: string; userEmail: string; secret: string };

/** Mint a personal API token for a script; the token is shown once. */
export function CreateTokenForm({ people }: { people: Person[] }) {
  const router = useRouter();
  const id = useId();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<Created | null>(null);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const body = { userEmail: String(data.get('userEmail') ?? ''), name: String(data.get('name') ?? '').trim() };
    setBusy(true);
    setError(null);
    setCreated(null);
    const result = await apiRequest<{ token: { name: string; userEmail: string }; secret: string }>('/api/tokens', 'POST', body);
    setBusy(false);
    if (!result.ok) {
      setError(result.message);
      return;
    }
    form.reset();
    setCreated({ name: result.data.token.name, userEmail: result.data.token.userEmail, secret: result.data.secret });
    router.refresh();
  }

  return (
    <div className="stack">
      <form
        onSubmit={onSubmit}
        className="admin-form"
        aria-label="Create an API token"
        aria-describedby={error ? `${id}-error` : undefined}
      >
        <div className="admin-grid">
          <div className="field">
            <label htmlFor={`${id}-user`}>Acts as</label>
            <select id={`${id}-user`} name="userEmail" required defaultValue="">
              <option value="" disabled>
                Choose a user…
              </option>
              {people.map((person) => (
                <option key={person.email} value={person.email}>
                  {person.name ? `${person.name} (${person.email})` : person.email} · {person.role}
                </option>
              ))}
            </select>
          </div>
          <LabelField id={`${id}-name`} label="Token name" hint="What uses it, e.g. release-script." />
        </div>
        {error ? (
          <p id={`${id}-error`} className="alert alert-error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="btn" disabled={busy}>
          {busy ? 'Creating…' : 'Create token'}
        </button>
      </form>
      {created ? (
        <OneTimeSecret
          title={`Token ${created.name} for ${created.userEmail}`}
          kind="token"
          value={created.secret}
          hint="Airlock keeps only a hash of it. Send it as Authorization: Bearer … to the JSON API; if it is lost, revoke it and create another."
          onDone={() => setCreated(null)}
        />
      ) : null}
    </div>
  );
}
