import type { ReactNode } from 'react';
import { ShellHeader } from '@/components/shell/shell-header';
import { allowed, requirePageUser } from '@/server/http/page-user';

export const dynamic = 'force-dynamic';

// every console page: signed in, with the navigation its role allows
export default async function ConsoleLayout({ children }: { children: ReactNode }) {
  const user = await requirePageUser();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <ShellHeader
        user={{ email: user.email, role: user.role }}
        links={[
          { href: '/', label: 'Queue', live: true },
          { href: '/history', label: 'History' },
          ...(allowed(user, 'audit.read') ? [{ href: '/audit', label: 'Audit' }] : []),
          ...(allowed(user, 'users.manage') || allowed(user, 'agents.manage') || allowed(user, 'upstreams.read')
            ? [{ href: '/admin', label: 'Admin' }]
            : []),
        ]}
      />
      <main id="main" className="page" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
