import '@/components/admin/admin.css';
import type { ReactNode } from 'react';
import { AdminNav } from '@/components/admin/admin-nav';
import { allowed, requirePageUser } from '@/server/http/page-user';
import { adminSections } from './sections';

// /admin/*: the sections this role opens; each page checks its own permission again
export default async function AdminLayout({ children }: { children: ReactNode }) {
  const user = await requirePageUser('/admin');
  const links = adminSections.filter((section) => allowed(user, section.permission)).map(({ href, label }) => ({ href, label }));
  return (
    <>
      <AdminNav links={links} />
      {children}
    </>
  );
}
