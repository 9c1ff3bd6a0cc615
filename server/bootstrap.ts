import { randomBytes } from 'node:crypto';
import { count } from 'drizzle-orm';
import type { Database } from '../db/database';
import { users } from '../db/schema';
import { createAgent } from './auth/agents';
import { createUser } from './auth/users';

export type Bootstrap = { adminEmail: string; adminPassword: string; agentName?: string; agentToken?: string };

export const DEMO_ADMIN = 'admin@airlock.local';
const DEMO_OWNER = 'agent-owner@airlock.local';

/**
 * First start on an empty database: an admin with a random password, and when the demo
 * upstream is served, a demo agent. Its owner is a separate user because an owner may
 * not approve their own agent's calls (invariant 4), and the admin should be able to.
 * Returns the secrets to print once, or null when the database already has users.
 */
export async function bootstrap(database: Database, { demo }: { demo: boolean }): Promise<Bootstrap | null> {
  const [{ n }] = await database.orm.select({ n: count() }).from(users);
  if (n > 0) return null;
  const adminPassword = randomBytes(12).toString('base64url');
  const actor = { type: 'system' as const, id: 'bootstrap' };
  await createUser(database, { email: DEMO_ADMIN, role: 'admin', name: 'Admin', password: adminPassword, actor });
  if (!demo) return { adminEmail: DEMO_ADMIN, adminPassword };
  await createUser(database, { email: DEMO_OWNER, role: 'approver', name: 'Demo agent owner', actor });
  const { agent, token } = await createAgent(database, { name: 'demo-agent', ownerEmail: DEMO_OWNER, upstreams: ['demo'], actor });
  return { adminEmail: DEMO_ADMIN, adminPassword, agentName: agent.name, agentToken: token };
}
