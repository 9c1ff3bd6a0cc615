import type { Metadata } from 'next';
import { AddUserForm } from '@/components/admin/add-user-form';
import { CreateTokenForm } from '@/components/admin/create-token-form';
import { NotAllowed } from '@/components/admin/not-allowed';
import { TokenTable } from '@/components/admin/token-table';
import { UserTable } from '@/components/admin/user-table';
import { roles } from '@/db/schema';
import { listApiTokens } from '@/server/auth/api-tokens';
import { listUsers } from '@/server/auth/users';
import { allowed, requirePageUser } from '@/server/http/page-user';
import { db } from '@/server/runtime';

export const metadata: Metadata = { title: 'Users · Admin · Airlock' };
export const dynamic = 'force-dynamic';

// /admin/users — people, roles, passwords and personal API tokens (users.manage)
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
  const [users, tokens] = await Promise.all([listUsers(db()), listApiTokens(db())]);
  // active tokens first, each group newest first (as listed)
  const sortedTokens = [...tokens].sort((a, b) => Number(a.revokedAt !== null) - Number(b.revokedAt !== null));
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
        <section className="card stack" aria-labelledby="tokens-title">
          <h2 id="tokens-title">
            API tokens <span className="muted">({tokens.filter((t) => !t.revokedAt).length} active)</span>
          </h2>
          <p className="muted">Scripts act as a person with these, with that person&apos;s role.</p>
          <CreateTokenForm people={users.filter((u) => !u.disabled).map((u) => ({ email: u.email, name: u.name, role: u.role }))} />
          <TokenTable
            tokens={sortedTokens.map((t) => ({
              id: t.id,
              name: t.name,
              userEmail: t.userEmail,
              createdAt: t.createdAt.toISOString(),
              lastUsedAt: t.lastUsedAt ? t.lastUsedAt.toISOString() : null,
              revokedAt: t.revokedAt ? t.revokedAt.toISOString() : null,
            }))}
          />
        </section>
      </div>
    </>
  );
}
