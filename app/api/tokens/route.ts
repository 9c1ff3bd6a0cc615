import { issueApiToken, ZAdminCreateToken } from '@/server/auth/admin';
import { listApiTokens } from '@/server/auth/api-tokens';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// GET /api/tokens — every personal API token with its user's email, newest first (never the secret)
export const GET = withUser({ permission: 'users.manage' }, async () => Response.json({ tokens: await listApiTokens(db()) }));

// POST /api/tokens — mint a personal API token for a user (as `token add` does); the secret is in this response and nowhere else
export const POST = withUser({ permission: 'users.manage', body: ZAdminCreateToken }, async ({ user, body }) =>
  Response.json(await issueApiToken(db(), { ...body, actor: { type: 'user', id: user.id } }), {
    status: 201,
    headers: { 'cache-control': 'no-store' },
  }),
);
