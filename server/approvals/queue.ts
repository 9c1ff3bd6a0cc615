import { and, asc, count, desc, eq, gte, ilike, inArray, or, type SQL, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import type { Executor } from '../../db/database';
import { agents, approvalRequests, approvalStatuses, users } from '../../db/schema';
import type { RiskFlag, RiskLevel } from '../lib/inspect';
import { MASK_MARKER, MASKED_KEY_PREFIX, maskArguments } from './masking';
import { countedApprovals } from './quorum';

/** Everything the queue and history show of a request, without its (possibly huge) arguments. */
export type QueueItem = {
  id: string;
  status: (typeof approvalStatuses)[number];
  upstream: string;
  tool: string;
  sessionId: string;
  agent: { id: string; name: string; ownerEmail: string };
  rule: { id: string; reason?: string };
  requiredApprovals: number;
  approvals: number;
  riskLevel: RiskLevel;
  riskFlags: RiskFlag[];
  /** A short, secret-masked summary of the arguments. */
  argumentsPreview: string;
  createdAt: string;
  expiresAt: string;
  decidedAt: string | null;
  decidedBy: string | null;
  reason: string | null;
  executedAt: string | null;
};

const decided = ['approved', 'denied', 'expired', 'cancelled'] as const;

export const ZQueueQuery = z
  .object({
    status: z.enum([...approvalStatuses, 'decided']).default('pending'),
    upstream: z.string().max(100).optional(),
    agent: z.string().max(200).optional(),
    tool: z.string().max(200).optional(),
    risk: z.enum(['high', 'medium', 'low']).optional(),
    /** Who decided (email), for history. */
    reviewer: z.string().max(320).optional(),
    /**
     * Free text over tool, upstream, agent and reason. Not over arguments: a search that
     * matches inside a masked secret would reveal it a character at a time.
     */
    q: z.string().trim().max(200).optional(),
    sort: z.enum(['age', 'time-left', 'newest']).default('age'),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
  })
  .strict();
export type QueueQuery = z.input<typeof ZQueueQuery>;

const PREVIEW_SOURCE = 4000;
const owners = alias(users, 'owners');
const deciders = alias(users, 'deciders');

const columns = {
  id: approvalRequests.id,
  status: approvalRequests.status,
  upstream: approvalRequests.upstream,
  tool: approvalRequests.tool,
  sessionId: approvalRequests.sessionId,
  agentId: agents.id,
  agentName: agents.name,
  ownerEmail: owners.email,
  rule: approvalRequests.rule,
  requiredApprovals: approvalRequests.requiredApprovals,
  approvals: countedApprovals,
  riskLevel: approvalRequests.riskLevel,
  riskFlags: approvalRequests.riskFlags,
  argumentsHead: sql<string>`substring(${approvalRequests.arguments} from 1 for ${PREVIEW_SOURCE})`,
  argumentsLength: sql<number>`length(${approvalRequests.arguments})`.mapWith(Number),
  createdAt: approvalRequests.createdAt,
  expiresAt: approvalRequests.expiresAt,
  decidedAt: approvalRequests.decidedAt,
  decidedBy: deciders.email,
  reason: approvalRequests.reason,
  executedAt: approvalRequests.executedAt,
};

type Row = {
  [K in keyof typeof columns]: unknown;
};

function filters(query: z.output<typeof ZQueueQuery>): SQL | undefined {
  const status = query.status === 'decided' ? inArray(approvalRequests.status, [...decided]) : eq(approvalRequests.status, query.status);
  const like = query.q ? `%${query.q.replace(/[\\%_]/g, '\\$&')}%` : undefined;
  return and(
    status,
    query.upstream ? eq(approvalRequests.upstream, query.upstream) : undefined,
    query.agent ? eq(agents.name, query.agent) : undefined,
    query.tool ? eq(approvalRequests.tool, query.tool) : undefined,
    query.risk ? eq(approvalRequests.riskLevel, query.risk) : undefined,
    query.reviewer ? eq(deciders.email, query.reviewer.toLowerCase()) : undefined,
    like
      ? or(
          ilike(approvalRequests.tool, like),
          ilike(approvalRequests.upstream, like),
          ilike(agents.name, like),
          ilike(approvalRequests.reason, like),
        )
      : undefined,
  );
}

function base<Extra extends Record<string, SQL.Aliased | SQL>>(db: Executor, extra?: Extra) {
  return db
    .select({ ...columns, ...(extra as Extra) })
    .from(approvalRequests)
    .innerJoin(agents, eq(agents.id, approvalRequests.agentId))
    .innerJoin(owners, eq(owners.id, agents.ownerId))
    .leftJoin(deciders, eq(deciders.id, approvalRequests.decidedBy));
}

/** A page of the queue (or of history with `status: 'decided'`), with the total for badges and titles. */
export async function listQueue(db: Executor, input: QueueQuery = {}): Promise<{ items: QueueItem[]; total: number }> {
  const query = ZQueueQuery.parse(input);
  const where = filters(query);
  const order =
    query.sort === 'time-left'
      ? [asc(approvalRequests.expiresAt), asc(approvalRequests.id)]
      : query.sort === 'newest' || query.status !== 'pending'
        ? [desc(approvalRequests.createdAt), desc(approvalRequests.id)]
        : [asc(approvalRequests.createdAt), asc(approvalRequests.id)];
  const counted = db
    .select({ total: count() })
    .from(approvalRequests)
    .innerJoin(agents, eq(agents.id, approvalRequests.agentId))
    .leftJoin(deciders, eq(deciders.id, approvalRequests.decidedBy))
    .where(where);
  // the rows and their total in one statement, so from one snapshot: a live page's count never
  // includes a request its rows do not (the console's events are checked against both). The count
  // is a subquery of its own tables, run once for the statement
  const rows = await base(db, { total: sql<number>`${counted}`.mapWith(Number) })
    .where(where)
    .orderBy(...order)
    .limit(query.limit)
    .offset(query.offset);
  // no row to carry the total: none at all from the first one, or a page past the end
  const total = rows.length > 0 ? rows[0].total : query.offset === 0 ? 0 : (await counted)[0].total;
  return { items: rows.map(toItem), total };
}

/** One queue item, e.g. to push to consoles when it appears or changes. */
export async function getQueueItem(db: Executor, id: string): Promise<QueueItem | null> {
  const [row] = await base(db).where(eq(approvalRequests.id, id));
  return row ? toItem(row) : null;
}

/** Facets for the queue's filters: the upstreams, agents and tools of pending requests. */
export async function queueFacets(db: Executor) {
  const rows = await db
    .selectDistinct({ upstream: approvalRequests.upstream, tool: approvalRequests.tool, agent: agents.name })
    .from(approvalRequests)
    .innerJoin(agents, eq(agents.id, approvalRequests.agentId))
    .where(gte(approvalRequests.createdAt, new Date(Date.now() - 30 * 24 * 3600_000)))
    .limit(2000);
  const sorted = (values: string[]) => [...new Set(values)].sort();
  return {
    upstreams: sorted(rows.map((r) => r.upstream)),
    tools: sorted(rows.map((r) => r.tool)),
    agents: sorted(rows.map((r) => r.agent)),
  };
}

/** How often the same call (same upstream, tool and argument digest) was decided recently, by outcome. */
export async function similarDecisions(
  db: Executor,
  {
    upstream,
    tool,
    argumentsDigest,
    excludeId,
    days = 7,
  }: { upstream: string; tool: string; argumentsDigest: string; excludeId: string; days?: number },
) {
  const since = new Date(Date.now() - days * 24 * 3600_000);
  const same = and(
    eq(approvalRequests.upstream, upstream),
    eq(approvalRequests.tool, tool),
    gte(approvalRequests.createdAt, since),
    sql`${approvalRequests.id} <> ${excludeId}`,
  );
  const [identical, sameTool] = await Promise.all([
    db
      .select({ status: approvalRequests.status, n: count() })
      .from(approvalRequests)
      .where(and(same, eq(approvalRequests.argumentsDigest, argumentsDigest)))
      .groupBy(approvalRequests.status),
    db.select({ status: approvalRequests.status, n: count() }).from(approvalRequests).where(same).groupBy(approvalRequests.status),
  ]);
  const tally = (rows: { status: string; n: number }[]) =>
    Object.fromEntries(rows.map((r) => [r.status, Number(r.n)])) as Record<string, number>;
  return { days, identical: tally(identical), sameTool: tally(sameTool) };
}

function toItem(row: Row): QueueItem {
  const rule = (row.rule ?? {}) as { id?: string; reason?: string };
  return {
    id: row.id as string,
    status: row.status as QueueItem['status'],
    upstream: row.upstream as string,
    tool: row.tool as string,
    sessionId: row.sessionId as string,
    agent: { id: row.agentId as string, name: row.agentName as string, ownerEmail: row.ownerEmail as string },
    rule: { id: rule.id ?? '', reason: rule.reason },
    requiredApprovals: row.requiredApprovals as number,
    approvals: row.approvals as number,
    riskLevel: row.riskLevel as RiskLevel,
    riskFlags: (row.riskFlags ?? []) as RiskFlag[],
    argumentsPreview: previewArguments(row.argumentsHead as string, row.argumentsLength as number),
    createdAt: (row.createdAt as Date).toISOString(),
    expiresAt: (row.expiresAt as Date).toISOString(),
    decidedAt: row.decidedAt ? (row.decidedAt as Date).toISOString() : null,
    decidedBy: (row.decidedBy as string | null) ?? null,
    reason: (row.reason as string | null) ?? null,
    executedAt: row.executedAt ? (row.executedAt as Date).toISOString() : null,
  };
}

/**
 * `key: value, …` for the top-level arguments, strings shortened and secrets masked
 * (invariant 8). Arguments too large to preview say so instead of being cut mid-value.
 */
export function previewArguments(head: string, length: number): string {
  if (length > PREVIEW_SOURCE) return `${formatSize(length)} of arguments`;
  let value: unknown;
  try {
    value = JSON.parse(head);
  } catch {
    return '';
  }
  // the console's one judgement of secrets, keys included (a key can itself be a token)
  const { masked } = maskArguments(value);
  if (masked === null || typeof masked !== 'object' || Array.isArray(masked)) return short(JSON.stringify(masked), 80);
  const parts = Object.entries(masked).map(([rawKey, item]) => {
    const key = rawKey.startsWith(MASKED_KEY_PREFIX) ? '••••••' : rawKey;
    if (isMaskMarker(item)) return `${key}: ••••••`;
    if (typeof item === 'string') return `${key}: ${JSON.stringify(short(item, 40))}`;
    if (item !== null && typeof item === 'object') return `${key}: ${Array.isArray(item) ? `[${item.length}]` : '{…}'}`;
    return `${key}: ${JSON.stringify(item)}`;
  });
  return short(parts.join(', '), 160);
}

function isMaskMarker(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 1 && MASK_MARKER in value;
}

function short(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function formatSize(bytes: number): string {
  return bytes > 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.round(bytes / 1024)} KB`;
}
