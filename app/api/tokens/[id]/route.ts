import { revokeApiToken } from '@/server/auth/api-tokens';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// DELETE /api/tokens/:id — revoke a personal API token at once; 404 when unknown, 409 when already revoked
export const DELETE = withUser({ permission: 'users.manage' }, async ({ user, params }) =>
  Response.json({ token: await revokeApiToken(db(), { tokenId: params.id, actor: { type: 'user', id: user.id } }) }),
);
