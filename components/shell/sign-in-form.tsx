'use client';

import { signIn } from 'next-auth/react';
import { type FormEvent, useState } from 'react';

type Props = { callbackUrl: string; oidc: { id: string; name: string } | null };

/** Credentials form; next-auth checks the password server-side and audits the attempt. */
export function SignInForm({ callbackUrl, oidc }: Props) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    const result = await signIn('credentials', {
      email: String(form.get('email') ?? ''),
      password: String(form.get('password') ?? ''),
      redirect: false,
    }).catch(() => null);
    setBusy(false);
    if (!result || result.error) {
      setError('Sign-in failed. Check your email and password.');
      return;
    }
    window.location.assign(callbackUrl);
  }

  return (
    <div className="card stack">
      <form onSubmit={onSubmit} className="stack" aria-describedby={error ? 'signin-error' : undefined}>
        <div className="field">
          <label htmlFor="email">Email</label>
          <input id="email" name="email" type="email" autoComplete="username" required style={{ width: '100%' }} />
        </div>
        <div className="field">
          <label htmlFor="password">Password</label>
          <input id="password" name="password" type="password" autoComplete="current-password" required style={{ width: '100%' }} />
        </div>
        {error ? (
          <p id="signin-error" className="alert alert-error" role="alert">
            {error}
          </p>
        ) : null}
        <button className="btn btn-primary" type="submit" disabled={busy} style={{ width: '100%' }}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      {oidc ? (
        <button className="btn" type="button" onClick={() => void signIn(oidc.id, { callbackUrl })} style={{ width: '100%' }}>
          Sign in with {oidc.name}
        </button>
      ) : null}
    </div>
  );
}
