'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { signOut } from 'next-auth/react';
import { useCallback, useEffect, useRef, useState } from 'react';
import { HelpDialog } from '@/components/keyboard/help-dialog';
import { useShortcuts } from '@/components/keyboard/use-shortcuts';
import { useApprovalFeed } from '@/components/realtime/feed';

type Props = {
  user: { email: string; role: string };
  links: { href: string; label: string; live?: boolean }[];
};

/** The console's header: navigation, the live count of pending requests, and the account. */
export function ShellHeader({ user, links }: Props) {
  const pathname = usePathname();
  const pending = usePendingCount();
  const [help, setHelp] = useState(false);
  useShortcuts({ '?': () => setHelp(true) });
  return (
    <header className="shell-header">
      <Link className="brand" href="/">
        Airlock
      </Link>
      <nav className="nav" aria-label="Main">
        {links.map((link) => {
          const current = link.href === '/' ? pathname === '/' || pathname.startsWith('/approvals') : pathname.startsWith(link.href);
          return (
            <Link key={link.href} href={link.href} aria-current={current ? 'page' : undefined}>
              {link.label}
              {link.live && pending !== null && pending > 0 ? (
                <span className="badge badge-count">
                  {pending}
                  <span className="visually-hidden"> pending</span>
                </span>
              ) : null}
            </Link>
          );
        })}
      </nav>
      <div className="user-menu">
        <span title={user.email} className="user-email">
          {user.email} · {user.role}
        </span>
        <button type="button" className="btn btn-small" onClick={() => setHelp(true)} aria-keyshortcuts="?" aria-label="Keyboard shortcuts">
          ?
        </button>
        <button type="button" className="btn btn-small" onClick={() => void signOut({ callbackUrl: '/signin' })}>
          Sign out
        </button>
      </div>
      <HelpDialog open={help} onClose={() => setHelp(false)} />
    </header>
  );
}

/** Pending requests, refreshed from the API on (re)connect and after each event (coalesced). */
function usePendingCount(): number | null {
  const [count, setCount] = useState<number | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const refresh = useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(async () => {
      timer.current = null;
      const response = await fetch('/api/queue?status=pending&limit=1', { cache: 'no-store' }).catch(() => null);
      if (response?.ok) setCount(((await response.json()) as { total: number }).total);
    }, 150);
  }, []);
  useApprovalFeed({ onEvent: refresh, onResync: refresh });
  useEffect(() => refresh(), [refresh]);
  return count;
}
