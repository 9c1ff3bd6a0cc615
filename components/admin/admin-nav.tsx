'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';

export type AdminLink = { href: string; label: string };

/** The Admin section's own navigation, marking the current page. */
export function AdminNav({ links }: { links: AdminLink[] }) {
  const pathname = usePathname();
  if (links.length === 0) return null;
  return (
    <nav aria-label="Admin" className="admin-nav">
      {links.map((link) => (
        <Link key={link.href} href={link.href} aria-current={pathname === link.href ? 'page' : undefined}>
          {link.label}
        </Link>
      ))}
    </nav>
  );
}
