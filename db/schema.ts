import { sql } from 'drizzle-orm';
import { bigint, boolean, customType, index, integer, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * JSON stored as text, not jsonb: jsonb rejects "\u0000" and reorders keys, while
 * arguments and audit payloads must round-trip exactly as the agent sent them.
 */
export const jsonText = customType<{ data: unknown; driverData: string }>({
  dataType: () => 'text',
  toDriver: (value) => JSON.stringify(value ?? null),
  fromDriver: (value) => JSON.parse(value),
});

const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow();

export const roles = ['admin', 'approver', 'auditor'] as const;
export type Role = (typeof roles)[number];

export const users = pgTable('users', {
  id: text('id').primaryKey(),
  email: text('email').notNull().unique(),
  name: text('name'),
  role: text('role', { enum: roles }).notNull(),
  passwordHash: text('password_hash'),
  disabled: boolean('disabled').notNull().default(false),
  /** Console sessions issued before this time are refused (set by a password reset). */
  sessionsValidAfter: timestamp('sessions_valid_after', { withTimezone: true, mode: 'date' }),
  createdAt: createdAt(),
});

/** Personal API tokens for scripts; only the SHA-256 of the token is stored. */
export const apiTokens = pgTable('api_tokens', {
  id: text('id').primaryKey(),
  userId: text('user_id')
    .notNull()
    .references(() => users.id),
  name: text('name').notNull(),
  tokenHash: text('token_hash').notNull().unique(),
  createdAt: createdAt(),
  lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
  revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
});

/** An agent is an MCP client identity; its bearer token is stored as a SHA-256 digest. */
export const agents = pgTable('agents', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  ownerId: text('owner_id')
    .notNull()
    .references(() => users.id),
  tokenHash: text('token_hash').notNull().unique(),
  /** Upstreams this agent may reach; empty means every upstream. */
  upstreams: text('upstreams').array().notNull().default(sql`'{}'::text[]`),
  createdAt: createdAt(),
  revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
});

export const upstreams = pgTable('upstreams', {
  name: text('name').primaryKey(),
  /** The validated upstream declaration (transport, command or url, …). */
  config: jsonText('config').notNull(),
  configHash: text('config_hash').notNull(),
  /** The tools the upstream last listed (definitions as served), and when; null until a session lists them. */
  tools: jsonText('tools'),
  toolsHash: text('tools_hash'),
  toolsListedAt: timestamp('tools_listed_at', { withTimezone: true, mode: 'date' }),
  createdAt: createdAt(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

export const approvalStatuses = ['pending', 'approved', 'denied', 'expired', 'cancelled'] as const;
export type ApprovalStatus = (typeof approvalStatuses)[number];

export const approvalRequests = pgTable(
  'approval_requests',
  {
    id: text('id').primaryKey(),
    status: text('status', { enum: approvalStatuses }).notNull().default('pending'),
    agentId: text('agent_id')
      .notNull()
      .references(() => agents.id),
    sessionId: text('session_id').notNull(),
    /** The JSON-RPC id of the held tools/call in its MCP session. */
    rpcId: text('rpc_id').notNull(),
    upstream: text('upstream').notNull(),
    tool: text('tool').notNull(),
    arguments: jsonText('arguments').notNull(),
    argumentsDigest: text('arguments_digest').notNull(),
    toolDefinition: jsonText('tool_definition').notNull(),
    toolDefinitionHash: text('tool_definition_hash').notNull(),
    /** Snapshot of the rule that held the call: id, reason, approver roles, quorum, timeout. */
    rule: jsonText('rule').notNull(),
    approverRoles: text('approver_roles').array().notNull(),
    /** Assessed when the call is held (server/lib/inspect.ts), so the queue can sort and filter by it. */
    riskLevel: text('risk_level', { enum: ['high', 'medium', 'low'] })
      .notNull()
      .default('low'),
    riskFlags: text('risk_flags').array().notNull().default(sql`'{}'::text[]`),
    requiredApprovals: integer('required_approvals').notNull(),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    decidedAt: timestamp('decided_at', { withTimezone: true, mode: 'date' }),
    decidedBy: text('decided_by').references(() => users.id),
    reason: text('reason'),
    /** Set when a reviewer edited the arguments before approving; the original digest stays above. */
    approvedArguments: jsonText('approved_arguments'),
    approvedArgumentsDigest: text('approved_arguments_digest'),
    /** Set once, by a conditional update, when the gateway forwards the approved call. */
    executedAt: timestamp('executed_at', { withTimezone: true, mode: 'date' }),
    /** Which Airlock process holds the agent's connection. */
    holder: text('holder').notNull(),
  },
  (t) => [
    index('approval_requests_status_created_idx').on(t.status, t.createdAt),
    index('approval_requests_session_idx').on(t.sessionId),
    // "similar past decisions": the same call, by digest
    index('approval_requests_similar_idx').on(t.upstream, t.tool, t.argumentsDigest),
    index('approval_requests_decided_idx').on(t.decidedAt),
  ],
);

/**
 * A reviewer's "approve and allow matching calls for this session for N minutes": calls to
 * the same tool of the same upstream in the same MCP session pass until it expires or is revoked.
 */
export const grants = pgTable(
  'grants',
  {
    id: text('id').primaryKey(),
    /** The approval request whose approval created the grant. */
    requestId: text('request_id')
      .notNull()
      .references(() => approvalRequests.id),
    agentId: text('agent_id')
      .notNull()
      .references(() => agents.id),
    sessionId: text('session_id').notNull(),
    upstream: text('upstream').notNull(),
    tool: text('tool').notNull(),
    /** The tool definition the reviewer saw: a changed definition voids the grant. */
    toolDefinitionHash: text('tool_definition_hash').notNull(),
    createdBy: text('created_by')
      .notNull()
      .references(() => users.id),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
    revokedBy: text('revoked_by').references(() => users.id),
  },
  (t) => [index('grants_session_idx').on(t.sessionId, t.upstream, t.tool)],
);

export const approvalVotes = pgTable(
  'approval_votes',
  {
    requestId: text('request_id')
      .notNull()
      .references(() => approvalRequests.id),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    decision: text('decision', { enum: ['approve', 'deny'] }).notNull(),
    reason: text('reason'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.requestId, t.userId] })],
);

/**
 * Append-only, hash-chained audit log. `seq` is dense and assigned under an advisory
 * lock; `hash` = SHA-256(prev_hash || canonical JSON of the row's content).
 * UPDATE, DELETE and TRUNCATE are refused by triggers (see the custom migration).
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey(),
    id: text('id').notNull(),
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
    type: text('type').notNull(),
    actorType: text('actor_type', { enum: ['user', 'agent', 'system'] }).notNull(),
    actorId: text('actor_id'),
    requestId: text('request_id'),
    /** The MCP session of a tool call event, for the session timeline a reviewer sees. */
    sessionId: text('session_id'),
    payload: jsonText('payload').notNull(),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  // Every tool call writes two rows, so each index here costs on the gateway's hot path: `id`
  // (a random UUID) has none, since nothing looks an event up by it.
  (t) => [
    index('audit_events_type_idx').on(t.type, t.seq),
    index('audit_events_request_idx').on(t.requestId),
    index('audit_events_session_idx').on(t.sessionId, t.seq),
  ],
);

/**
 * Airlock processes sharing one PostgreSQL, each holding a lease it renews every few seconds.
 * A request held by a process whose lease ran out (it crashed, or lost its host) is cancelled
 * by any other: its agent's connection is gone, so it must never look approvable.
 */
export const gatewayInstances = pgTable('gateway_instances', {
  /** The `holder` of the approval requests this process holds. */
  id: text('id').primaryKey(),
  startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }).defaultNow().notNull(),
  leaseUntil: timestamp('lease_until', { withTimezone: true, mode: 'date' }).notNull(),
});
