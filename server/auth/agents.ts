import { randomUUID } from 'node:crypto';
import { and, asc, eq, gt, inArray, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Executor } from '../../db/database';
import { agents, grants, users } from '../../db/schema';
import { cancelAgentRequests, notifyChange } from '../approvals/lifecycle';
import { type AuditActor, type AuditInput, appendAudit } from '../audit/append';
import { ZUpstreamName } from '../config/schema';
import { hashToken, newToken, TOKEN_PREFIX } from '../lib/digest';
import { AirlockError } from '../lib/errors';
import { type DatabaseOrExecutor, executor, inTransaction } from './executor';
import { parseInput, ZActor, ZEmail, ZLabel } from './validation';

/** An agent as the rest of the app sees it: never its token hash. */
export type Agent = Omit<typeof agents.$inferSelect, 'tokenHash'>;

/** An agent with its owner's email, for listings. */
export type AgentListing = Agent & { ownerEmail: string };

const agentColumns = {
  id: agents.id,
  name: agents.name,
  ownerId: agents.ownerId,
  upstreams: agents.upstreams,
  createdAt: agents.createdAt,
  revokedAt: agents.revokedAt,
};

/** NOTIFY channel carrying the id of an agent whose token was revoked. */
export const AGENTS_CHANNEL = 'airlock_agents';

export const ZCreateAgent = z.object({
  name: ZLabel,
  ownerEmail: ZEmail,
  /** Upstreams the agent may reach; empty means all of them. */
  upstreams: z.array(ZUpstreamName).max(100).default([]),
  actor: ZActor.optional(),
});
export type CreateAgentOptions = z.input<typeof ZCreateAgent> & { actor?: AuditActor };

/**
 * Register an agent and mint its bearer token. The token is returned once and only its
 * SHA-256 is stored; audited `agent.created`. The owner cannot approve the agent's calls (invariant 4).
 */
export async function createAgent(db: DatabaseOrExecutor, options: CreateAgentOptions): Promise<{ agent: Agent; token: string }> {
  const input = parseInput(ZCreateAgent, options);
  const token = newToken('agent');
  const upstreams = [...new Set(input.upstreams)].sort();
  return inTransaction(db, async (tx) => {
    const [owner] = await tx.select().from(users).where(eq(users.email, input.ownerEmail));
    if (!owner) throw new AirlockError('not_found', `no user with email ${input.ownerEmail} (the agent's owner must be a user)`);
    if (owner.disabled) throw new AirlockError('bad_request', `user ${owner.email} is disabled`);
    const [agent] = await tx
      .insert(agents)
      .values({ id: randomUUID(), name: input.name, ownerId: owner.id, tokenHash: hashToken(token), upstreams })
      .onConflictDoNothing({ target: agents.name })
      .returning(agentColumns);
    if (!agent) throw new AirlockError('conflict', `an agent named ${input.name} already exists`);
    await appendAudit(tx, {
      type: 'agent.created',
      actor: input.actor ?? { type: 'system' },
      payload: { agentId: agent.id, name: agent.name, ownerId: owner.id, ownerEmail: owner.email, upstreams },
    });
    return { agent, token };
  });
}

const ZRevokeAgent = z
  .object({ agentId: z.string().min(1).optional(), name: ZLabel.optional(), actor: ZActor.optional() })
  .refine((v) => (v.agentId === undefined) !== (v.name === undefined), { message: 'give exactly one of agentId or name' });
export type RevokeAgentOptions = ({ agentId: string } | { name: string }) & { actor?: AuditActor };

/** Revoke an agent's token for good, audited `agent.revoked`; its next request is refused. */
export async function revokeAgent(db: DatabaseOrExecutor, options: RevokeAgentOptions): Promise<Agent> {
  const input = parseInput(ZRevokeAgent, options);
  return inTransaction(db, async (tx) => {
    const where = input.agentId !== undefined ? eq(agents.id, input.agentId) : eq(agents.name, input.name ?? '');
    // `no key update`: rows that reference the agent (a grant a concurrent decision inserts) take KEY SHARE
    // on it while holding their request and the audit chain; FOR UPDATE would wait on them and deadlock
    const [row] = await tx.select(agentColumns).from(agents).where(where).for('no key update');
    if (!row) throw new AirlockError('not_found', `no agent ${input.agentId ?? input.name}`);
    if (row.revokedAt) throw new AirlockError('conflict', `agent ${row.name} is already revoked`);
    const [agent] = await tx.update(agents).set({ revokedAt: new Date() }).where(eq(agents.id, row.id)).returning(agentColumns);
    const actor = input.actor ?? { type: 'system' as const };
    const stopped = await stopAgent(tx, { agentId: row.id, reason: 'the agent was revoked', actor });
    // appended last: every row this changes is locked before the audit chain is
    await appendAudit(tx, [{ type: 'agent.revoked', actor, payload: { agentId: row.id, name: row.name } }, ...stopped]);
    return agent;
  });
}

/**
 * End what an agent has running, in the caller's transaction, when the agent is revoked or
 * its owner disabled: its held calls are cancelled, its session grants revoked, and every
 * gateway is told to drop its cached identity and close its sessions. Returns the audit
 * events for the caller to append once its own rows are changed (see cancelAgentRequests).
 */
export async function stopAgent(
  tx: Executor,
  { agentId, reason, actor }: { agentId: string; reason: string; actor: AuditActor },
): Promise<AuditInput[]> {
  const cancelled = await cancelAgentRequests(tx, { agentId, reason, actor });
  const revoked = await tx
    .update(grants)
    .set({ revokedAt: new Date(), revokedBy: actor.type === 'user' ? (actor.id ?? null) : null })
    .where(and(eq(grants.agentId, agentId), isNull(grants.revokedAt), gt(grants.expiresAt, new Date())))
    .returning({ id: grants.id, requestId: grants.requestId });
  for (const grant of revoked) await notifyChange(tx, grant.requestId, 'grant');
  // gateways cache agent identities for a few seconds and keep sessions open: tell every process
  await tx.execute(sql`select pg_notify(${AGENTS_CHANNEL}, ${agentId})`);
  return [
    ...cancelled,
    ...revoked.map(
      (grant): AuditInput => ({ type: 'grant.revoked', actor, requestId: grant.requestId, payload: { grantId: grant.id, reason } }),
    ),
  ];
}

/** Of these agents, the ones that may still act: not revoked, their owner not disabled. */
export async function activeAgentIds(db: DatabaseOrExecutor, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await executor(db)
    .select({ id: agents.id })
    .from(agents)
    .innerJoin(users, eq(users.id, agents.ownerId))
    .where(and(inArray(agents.id, ids), isNull(agents.revokedAt), eq(users.disabled, false)));
  return new Set(rows.map((row) => row.id));
}

/** Every agent with its owner's email, by name (revoked ones included, marked by `revokedAt`). */
export async function listAgents(db: DatabaseOrExecutor): Promise<AgentListing[]> {
  return executor(db)
    .select({ ...agentColumns, ownerEmail: users.email })
    .from(agents)
    .innerJoin(users, eq(users.id, agents.ownerId))
    .orderBy(asc(agents.name));
}

export type AuthenticateAgentOptions = {
  token: string | null | undefined;
  /** The upstream asked for; omitted, only the token is checked (the caller checks the upstream). */
  upstream?: string;
};

/**
 * The agent a bearer token belongs to, if it may reach `upstream`. On the path of every
 * MCP request: one lookup by the unique token hash, no transaction. Throws `unauthorized`
 * for a missing, unknown or revoked token and `forbidden` for an upstream outside the agent's list.
 */
export async function authenticateAgent(db: DatabaseOrExecutor, { token, upstream }: AuthenticateAgentOptions): Promise<Agent> {
  if (typeof token !== 'string' || !token.startsWith(TOKEN_PREFIX.agent) || token.length > 200)
    throw new AirlockError('unauthorized', 'missing or malformed agent token');
  const [row] = await executor(db)
    .select({ ...agentColumns, ownerDisabled: users.disabled })
    .from(agents)
    .innerJoin(users, eq(users.id, agents.ownerId))
    .where(eq(agents.tokenHash, hashToken(token)))
    .limit(1);
  // one message for unknown and revoked: the response does not tell which tokens once existed
  if (!row || row.revokedAt) throw new AirlockError('unauthorized', 'unknown or revoked agent token');
  // an agent answers to its owner: a disabled owner's agents stop too
  if (row.ownerDisabled) throw new AirlockError('unauthorized', "this agent's owner is disabled");
  const { ownerDisabled: _, ...agent } = row;
  if (upstream !== undefined && agent.upstreams.length > 0 && !agent.upstreams.includes(upstream))
    throw new AirlockError('forbidden', `agent ${agent.name} may not use upstream ${upstream}`);
  return agent;
}
