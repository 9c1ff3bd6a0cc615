'use client';

import { useRouter } from 'next/navigation';
import { type FormEvent, useId, useState } from 'react';
import type { Role } from '@/server/auth/permissions';
import { OneTimeSecret } from './one-time-secret';
import { apiRequest } from './request';

type Created = { email: string; password?: string };

/** Add a user with a chosen password, or "invite": Airlock generates a password shown once. */
export function AddUserForm({ roles }: { roles: readonly Role[] }) {
  const router = useRouter();
  const id = useId();
  const [mode, setMode] = useState<'invite' | 'password'>('invite');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<Created | null>(null);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const name = String(data.get('name') ?? '').trim();
    const body = {
      email: String(data.get('email') ?? '').trim(),
      role: String(data.get('role') ?? ''),
      ...(name ? { name } : {}),
      ...(mode === 'password' ? { password: String(data.get('password') ?? '') } : {}),
    };
    setBusy(true);
    setError(null);
    setCreated(null);
    const result = await apiRequest<{ user: { email: string }; password?: string }>('/api/users', 'POST', body);
    setBusy(false);
    if (!result.ok) {
      setError(result.message);
      return;
    }
    form.reset();
    setMode('invite');
    setCreated({ email: result.data.user.email, password: result.data.password });
    router.refresh();
  }

  return (
    <section className="card stack" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Add a user</h2>
      <form onSubmit={onSubmit} className="admin-form" aria-describedby={error ? `${id}-error` : undefined}>
        <div className="admin-grid">
          <div className="field">
            <label htmlFor={`${id}-email`}>Email</label>
            <input id={`${id}-email`} name="email" type="email" autoComplete="off" required maxLength={320} />
          </div>
          <div className="field">
            <label htmlFor={`${id}-name`}>
              Name <span className="muted">(optional)</span>
            </label>
            <input id={`${id}-name`} name="name" type="text" autoComplete="off" maxLength={200} />
          </div>
          <div className="field">
            <label htmlFor={`${id}-role`}>Role</label>
            <select id={`${id}-role`} name="role" defaultValue="approver" required>
              {roles.map((role) => (
                <option key={role} value={role}>
                  {role}
                </option>
              ))}
            </select>
          </div>
        </div>
        <fieldset className="admin-fieldset">
          <legend>Password</legend>
          <label className="admin-choice">
            <input type="radio" name="mode" value="invite" checked={mode === 'invite'} onChange={() => setMode('invite')} />
            Generate a one-time password (invite)
          </label>
          <label className="admin-choice">
            <input type="radio" name="mode" value="password" checked={mode === 'password'} onChange={() => setMode('password')} />
            Set a password
          </label>
          {mode === 'password' ? (
            <div className="field">
              <label htmlFor={`${id}-password`}>Initial password</label>
              <input
                id={`${id}-password`}
                name="password"
                type="password"
                autoComplete="new-password"
                required
                minLength={8}
                maxLength={256}
                aria-describedby={`${id}-password-hint`}
              />
              <p id={`${id}-password-hint`} className="muted admin-hint">
                At least 8 characters.
              </p>
            </div>
          ) : null}
        </fieldset>
        {error ? (
          <p id={`${id}-error`} className="alert alert-error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? 'Adding…' : 'Add user'}
        </button>
      </form>
      {created && !created.password ? (
        <p className="alert alert-ok" role="status">
          Added {created.email}.
        </p>
      ) : null}
      {created?.password ? (
        <OneTimeSecret
          title={`Added ${created.email}`}
          kind="password"
          value={created.password}
          hint="Give it to the person over a channel you trust; they sign in with it."
          onDone={() => setCreated(null)}
        />
      ) : null}
    </section>
  );
}
