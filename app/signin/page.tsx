import type { Metadata } from 'next';
import { SignInForm } from '@/components/shell/sign-in-form';
import { localPath } from '@/server/lib/local-path';

export const metadata: Metadata = { title: 'Sign in · Airlock' };
export const dynamic = 'force-dynamic';

type Props = { searchParams: Promise<{ callbackUrl?: string; error?: string; expired?: string }> };

// /signin — email and password, plus single sign-on when OIDC is configured
export default async function SignInPage({ searchParams }: Props) {
  const { callbackUrl, error, expired } = await searchParams;
  const oidc = process.env.AIRLOCK_OIDC_ISSUER && process.env.AIRLOCK_OIDC_CLIENT_ID && process.env.AIRLOCK_OIDC_CLIENT_SECRET;
  const target = localPath(callbackUrl);
  return (
    <main className="page" style={{ maxWidth: 420 }}>
      <h1>Sign in to Airlock</h1>
      {expired ? <p className="alert alert-warn">Your session expired. Sign in again to continue.</p> : null}
      {error ? (
        <p className="alert alert-error" role="alert">
          Sign-in failed. Check your email and password.
        </p>
      ) : null}
      <SignInForm
        callbackUrl={target}
        oidc={
          oidc
            ? { id: 'oidc' /* OIDC_PROVIDER_ID in server/auth/next-auth.ts */, name: process.env.AIRLOCK_OIDC_NAME || 'Single sign-on' }
            : null
        }
      />
    </main>
  );
}
