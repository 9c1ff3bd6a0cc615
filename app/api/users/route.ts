import { createUserWithPassword, ZAdminCreateUser } from '@/server/auth/admin';
import { listUsers } from '@/server/auth/users';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// GET /api/users — every user, by email
export const GET = withUser({ permission: 'users.manage' }, async () => Response.json({ users: await listUsers(db()) }));

// POST /api/users — add a user; without a password one is generated and returned once
export const POST = withUser({ permission: 'users.manage', body: ZAdminCreateUser }, async ({ user, body }) =>
  Response.json(await createUserWithPassword(db(), { ...body, actor: { type: 'user', id: user.id } }), {
    status: 201,
    headers: { 'cache-control': 'no-store' },
  }),
);
