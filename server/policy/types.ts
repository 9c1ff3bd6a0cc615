import { z } from 'zod';
import { roles } from '../../db/schema';

export const ZAnnotationMatch = z
  .object({
    readOnlyHint: z.boolean().optional(),
    destructiveHint: z.boolean().optional(),
    idempotentHint: z.boolean().optional(),
    openWorldHint: z.boolean().optional(),
  })
  .strict();

/**
 * A rule's glob: `*` and `?` are its only wildcards. Characters other glob dialects give a
 * meaning to (`{a,b}`, `[ab]`) would be matched literally here, so the rule would silently
 * match nothing, and a later catch-all would let the calls through: they are refused.
 */
const ZGlob = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\s{}[\],|]+$/, 'globs take only * and ? as wildcards (no {a,b}, [ab], commas, | or spaces): write one rule per name');

export const ZRule = z
  .object({
    /** Stable name of the rule, quoted in audit events and shown to reviewers. */
    id: z.string().min(1).max(100),
    /** Glob over upstream names (default: every upstream). */
    upstream: ZGlob.default('*'),
    /** Glob over tool names (default: every tool). */
    tool: ZGlob.default('*'),
    /**
     * Every listed annotation must equal the tool's effective value: a hint the tool omits (or
     * sends as a non-boolean) takes MCP's default, so `destructiveHint: true` matches an
     * unannotated tool.
     */
    annotations: ZAnnotationMatch.optional(),
    action: z.enum(['allow', 'deny', 'require_approval']),
    /** Why the rule exists; shown to reviewers and, for deny, to the agent. */
    reason: z.string().max(500).optional(),
    /** Roles that may approve (admins always may). */
    approvers: z.array(z.enum(roles)).min(1).default(['approver']),
    /** How many distinct people must approve. */
    quorum: z.number().int().min(1).max(10).default(1),
    /** Reviewers may edit the arguments before approving (the agent is told; both digests are audited). */
    allowEdit: z.boolean().default(false),
    /**
     * Longest "approve and allow matching calls for this session" a reviewer may grant, in
     * minutes; 0 (the default) offers no grant.
     */
    maxGrantMinutes: z
      .number()
      .int()
      .min(0)
      .max(24 * 60)
      .default(0),
    /** Maximum wait before the held call is denied as expired. */
    timeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 3600)
      .default(600),
  })
  .strict();

export type Rule = z.infer<typeof ZRule>;
export type RuleInput = z.input<typeof ZRule>;

/** The tool annotations a rule can match on. */
export type AnnotationHint = keyof z.infer<typeof ZAnnotationMatch>;

/**
 * What policy sees of a tool: its name and the annotations its server declares, as sent:
 * untrusted, so a hint may be missing or not a boolean at all.
 */
export type ToolFacts = {
  name: string;
  annotations?: ({ readonly [hint in AnnotationHint]?: unknown } & { readonly [other: string]: unknown }) | null;
};

export type Verdict = {
  action: Rule['action'];
  /** The matched rule's id, or `default:read-only` / `default:approval` when none matched. */
  ruleId: string;
  reason: string;
  approvers: Rule['approvers'];
  quorum: number;
  timeoutSeconds: number;
  allowEdit: boolean;
  maxGrantMinutes: number;
};
