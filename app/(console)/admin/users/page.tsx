import type { Metadata } from 'next';
import { AddUserForm } from '@/components/admin/add-user-form';
import { NotAllowed } from '@/components/admin/not-allowed';
import { UserTable } from '@/components/admin/user-table';
import { roles } from '@/db/schema';
import { listUsers } from '@/server/auth/users';
import { allowed, requirePageUser } from '@/server/http/page-user';
import { db } from '@/server/runtime';

export const metadata: Metadata = { title: 'Users · Admin · Airlock' };
export const dynamic = 'force-dynamic';

// /admin/users — people, roles and passwords (users.manage)
export default async function UsersPage() {
  const user = await requirePageUser('/admin/users');
  const heading = (
    <div className="page-title">
      <h1>Users</h1>
    </div>
  );
  if (!allowed(user, 'users.manage'))
    return (
      <>
        {heading}
        <NotAllowed what="manage users" permission="users.manage" role={user.role} />
      </>
    );
  const users = await listUsers(db());
  return (
    <>
      {heading}
      <div className="stack">
        <AddUserForm roles={roles} />
        <section className="card stack" aria-labelledby="users-title">
          <h2 id="users-title">
            All users <span className="muted">({users.length})</span>
          </h2>
          <UserTable
            roles={roles}
            currentUserId={user.id}
            users={users.map((u) => ({
              id: u.id,
              email: u.email,
              name: u.name,
              role: u.role,
              disabled: u.disabled,
              createdAt: u.createdAt.toISOString(),
            }))}
          />
        </section>
      </div>
    </>
  );
}
