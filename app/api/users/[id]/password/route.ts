import { setPassword, ZAdminResetPassword } from '@/server/auth/admin';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// POST /api/users/:id/password — `{}` sets a new random password and returns it once; `{ password }` sets that one
export const POST = withUser({ permission: 'users.manage', body: ZAdminResetPassword }, async ({ user, body, params }) =>
  Response.json(await setPassword(db(), { ...body, userId: params.id, actor: { type: 'user', id: user.id } }), {
    headers: { 'cache-control': 'no-store' },
  }),
);
