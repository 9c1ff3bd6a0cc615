import { listApiTokens } from '@/server/auth/api-tokens';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// GET /api/tokens — every personal API token with its user's email, newest first (never the secret)
export const GET = withUser({ permission: 'users.manage' }, async () => Response.json({ tokens: await listApiTokens(db()) }));
