import type { Metadata } from 'next';
import Link from 'next/link';
import { allowed, requirePageUser } from '@/server/http/page-user';
import { adminSections } from './sections';

export const metadata: Metadata = { title: 'Admin · Airlock' };
export const dynamic = 'force-dynamic';

// /admin — the admin sections this role may open
export default async function AdminPage() {
  const user = await requirePageUser('/admin');
  const sections = adminSections.filter((section) => allowed(user, section.permission));
  return (
    <>
      <div className="page-title">
        <h1>Admin</h1>
      </div>
      {sections.length === 0 ? (
        <p className="alert alert-warn" role="alert">
          Your role ({user.role}) does not open any admin page. Ask an admin if you need access.
        </p>
      ) : (
        <ul className="admin-overview">
          {sections.map((section) => (
            <li key={section.href} className="card">
              <h2>
                <Link href={section.href}>{section.label}</Link>
              </h2>
              <p className="muted">{section.description}</p>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
