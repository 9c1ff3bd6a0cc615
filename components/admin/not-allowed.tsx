import type { Permission } from '@/server/auth/permissions';

/** What a signed-in person sees on an admin page their role does not open (the API refuses too). */
export function NotAllowed({ what, permission, role }: { what: string; permission: Permission; role: string }) {
  return (
    <div className="alert alert-warn" role="alert">
      <p style={{ margin: 0 }}>
        <strong>{`You are not allowed to ${what}.`}</strong> {`Your role (${role}) does not include`} <code>{permission}</code>.{' '}
        {'Ask an admin if you need access.'}
      </p>
    </div>
  );
}
