import { z } from 'zod';
import type { Executor } from '../../db/database';
import { upstreams } from '../../db/schema';
import { evaluate } from '../policy/evaluate';
import type { Rule, Verdict } from '../policy/types';
import type { Config, UpstreamConfig } from './schema';
import { redactUpstream } from './sync';

/** A tool as the upstream last listed it (untrusted text: shown as text, never as HTML). */
export type ToolListing = {
  name: string;
  title: string | null;
  description: string | null;
  annotations: Record<string, boolean>;
  /** What the current rules do with a call to this tool. */
  verdict: Pick<Verdict, 'action' | 'ruleId' | 'reason' | 'quorum' | 'approvers'>;
};

export type UpstreamListing = {
  name: string;
  transport: UpstreamConfig['transport'];
  /** The declaration with env, header, URL credential and secret-looking argument values masked. */
  config: UpstreamConfig;
  /** Null until an agent's session lists the upstream's tools. */
  tools: ToolListing[] | null;
  toolsListedAt: Date | null;
};

const HINTS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const;

// the snapshot holds definitions as served: parse leniently, keep only what we show
const ZToolSnapshot = z.object({
  name: z.string(),
  title: z.string().optional().catch(undefined),
  description: z.string().optional().catch(undefined),
  annotations: z.record(z.string(), z.unknown()).nullish().catch(undefined),
});

function snapshotTools(snapshot: unknown): z.infer<typeof ZToolSnapshot>[] | null {
  const list = Array.isArray(snapshot) ? snapshot : (snapshot as { tools?: unknown } | null)?.tools;
  if (!Array.isArray(list)) return null;
  return list.flatMap((item) => {
    const parsed = ZToolSnapshot.safeParse(item);
    return parsed.success ? [parsed.data] : [];
  });
}

export type ListUpstreamToolsOptions = { config: Pick<Config, 'upstreams' | 'rules'> };

/**
 * The configured upstreams (redacted), each with the tools of its last listing and what
 * the current rules do with each tool. Configuration is the list; the database adds the snapshot.
 */
export async function listUpstreamTools(db: Executor, { config }: ListUpstreamToolsOptions): Promise<UpstreamListing[]> {
  const rows = await db.select({ name: upstreams.name, tools: upstreams.tools, toolsListedAt: upstreams.toolsListedAt }).from(upstreams);
  const stored = new Map(rows.map((row) => [row.name, row]));
  return Object.entries(config.upstreams)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, upstream]) => {
      const row = stored.get(name);
      const tools = snapshotTools(row?.tools ?? null);
      return {
        name,
        transport: upstream.transport,
        // display and storage use one redaction
        config: redactUpstream(upstream),
        tools: tools?.map((tool) => describeTool(config.rules, name, tool)).sort((a, b) => a.name.localeCompare(b.name)) ?? null,
        toolsListedAt: tools ? (row?.toolsListedAt ?? null) : null,
      };
    });
}

function describeTool(rules: readonly Rule[], upstream: string, tool: z.infer<typeof ZToolSnapshot>): ToolListing {
  const annotations: Record<string, boolean> = {};
  for (const hint of HINTS) if (typeof tool.annotations?.[hint] === 'boolean') annotations[hint] = tool.annotations[hint] as boolean;
  const { action, ruleId, reason, quorum, approvers } = evaluate(rules, upstream, { name: tool.name, annotations });
  const title = tool.title ?? (typeof tool.annotations?.title === 'string' ? tool.annotations.title : null);
  return {
    name: tool.name,
    title,
    description: tool.description ?? null,
    annotations,
    verdict: { action, ruleId, reason, quorum, approvers },
  };
}
