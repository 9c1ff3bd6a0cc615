'use client';

import { useRouter } from 'next/navigation';
import { useEffect, useState } from 'react';
import type { Role } from '@/server/auth/permissions';
import { ConfirmButton } from './confirm-button';
import { formatTime } from './format';
import { OneTimeSecret } from './one-time-secret';
import { type ApiResult, apiRequest } from './request';

export type UserRowData = { id: string; email: string; name: string | null; role: Role; disabled: boolean; createdAt: string };

type Props = { users: UserRowData[]; currentUserId: string; roles: readonly Role[] };

/** Every user with role, status and password actions; each row reports its own errors. */
export function UserTable({ users, currentUserId, roles }: Props) {
  const [secret, setSecret] = useState<{ email: string; password: string } | null>(null);
  return (
    <div className="stack">
      {secret ? (
        <OneTimeSecret
          title={`New password for ${secret.email}`}
          kind="password"
          value={secret.password}
          hint="Their previous password no longer works. Give them this one over a channel you trust."
          onDone={() => setSecret(null)}
        />
      ) : null}
      {users.length === 0 ? (
        <p className="muted">No users yet.</p>
      ) : (
        <div className="table-wrap">
          <table className="data admin-table">
            <caption className="visually-hidden">Users</caption>
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {users.map((user) => (
                <UserRow
                  key={user.id}
                  user={user}
                  self={user.id === currentUserId}
                  roles={roles}
                  onPassword={(password) => setSecret({ email: user.email, password })}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

type RowProps = { user: UserRowData; self: boolean; roles: readonly Role[]; onPassword: (password: string) => void };

function UserRow({ user, self, roles, onPassword }: RowProps) {
  const router = useRouter();
  const [role, setRole] = useState<Role>(user.role);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ where: 'role' | 'actions'; message: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const roleId = `role-${user.id}`;
  // the row outlives a refresh: follow the role in force when it changes
  useEffect(() => setRole(user.role), [user.role]);

  async function run<T>(where: 'role' | 'actions', call: () => Promise<ApiResult<T>>, done: (data: T) => void) {
    setBusy(true);
    setError(null);
    setNotice(null);
    const result = await call();
    setBusy(false);
    if (!result.ok) {
      setError({ where, message: result.message });
      if (where === 'role') setRole(user.role); // nothing changed: show the role in force
      return;
    }
    done(result.data);
    router.refresh();
  }

  const saveRole = () =>
    run(
      'role',
      () => apiRequest(`/api/users/${encodeURIComponent(user.id)}`, 'PATCH', { role }),
      () => setNotice(`Role changed to ${role}.`),
    );
  const setDisabled = (disabled: boolean) =>
    run(
      'actions',
      () => apiRequest(`/api/users/${encodeURIComponent(user.id)}`, 'PATCH', { disabled }),
      () => setNotice(disabled ? 'Disabled: their sessions and API tokens stop working now.' : 'Enabled.'),
    );
  const resetPassword = () =>
    run<{ password?: string }>(
      'actions',
      () => apiRequest(`/api/users/${encodeURIComponent(user.id)}/password`, 'POST', {}),
      (data) => {
        if (data.password) onPassword(data.password);
      },
    );

  const rowError = (where: 'role' | 'actions') =>
    error?.where === where ? (
      <p className="alert alert-error admin-row-message" role="alert">
        {error.message}
      </p>
    ) : null;

  return (
    <tr className={user.disabled ? 'admin-row-disabled' : undefined}>
      <td data-label="Email">
        <span className="admin-strong">{user.email}</span> {self ? <span className="badge">you</span> : null}
      </td>
      <td data-label="Name">{user.name ?? <span className="muted">—</span>}</td>
      <td data-label="Role">
        <div className="row admin-nowrap-row">
          <label htmlFor={roleId} className="visually-hidden">
            Role of {user.email}
          </label>
          <select id={roleId} value={role} disabled={busy} onChange={(event) => setRole(event.target.value as Role)}>
            {roles.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
          {role !== user.role ? (
            <button
              type="button"
              className="btn btn-primary"
              disabled={busy}
              aria-label={`Save role of ${user.email}`}
              onClick={() => void saveRole()}
            >
              Save
            </button>
          ) : null}
        </div>
        {self && user.role === 'admin' && role !== 'admin' ? (
          <p className="alert alert-warn admin-row-message">You will lose access to the Admin pages.</p>
        ) : null}
        {rowError('role')}
      </td>
      <td data-label="Status">
        {user.disabled ? <span className="badge badge-high">disabled</span> : <span className="badge badge-low">enabled</span>}
      </td>
      <td data-label="Created">
        <time dateTime={user.createdAt}>{formatTime(user.createdAt)}</time>
      </td>
      <td data-label="Actions">
        <div className="row">
          {self ? null : user.disabled ? (
            <button
              type="button"
              className="btn"
              disabled={busy}
              aria-label={`Enable ${user.email}`}
              onClick={() => void setDisabled(false)}
            >
              Enable
            </button>
          ) : (
            <ConfirmButton
              label="Disable"
              ariaLabel={`Disable ${user.email}`}
              question={`Disable ${user.email}? Their sessions and API tokens stop working at once.`}
              confirmLabel={`Yes, disable ${user.email}`}
              busy={busy}
              danger
              onConfirm={() => setDisabled(true)}
            />
          )}
          <ConfirmButton
            label="Reset password"
            ariaLabel={`Reset password of ${user.email}`}
            question={`Reset the password of ${user.email}? Their current password stops working.`}
            confirmLabel="Yes, reset password"
            busy={busy}
            onConfirm={resetPassword}
          />
        </div>
        {notice ? (
          <p className="muted admin-row-message" role="status">
            {notice}
          </p>
        ) : null}
        {rowError('actions')}
      </td>
    </tr>
  );
}
