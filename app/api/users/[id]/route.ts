import { updateUser, ZAdminUpdateUser } from '@/server/auth/admin';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// PATCH /api/users/:id — change role and/or disable / enable; 409 for the last admin or oneself
export const PATCH = withUser({ permission: 'users.manage', body: ZAdminUpdateUser }, async ({ user, body, params }) =>
  Response.json({
    user: await updateUser(db(), { ...body, userId: params.id, actingUserId: user.id, actor: { type: 'user', id: user.id } }),
  }),
);
