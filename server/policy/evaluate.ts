import type { AnnotationHint, Rule, ToolFacts, Verdict } from './types';

const DEFAULT_TIMEOUT_SECONDS = 600;
const matchers = new Map<string, RegExp>();

/**
 * Rule globs: `*` is any run of characters (slashes included: tool names come from
 * untrusted servers, and `repos/delete` must not slip past `*` or `delete*`), `?` one
 * character, everything else literal, anchored at both ends.
 */
export function globToRegExp(pattern: string): RegExp {
  let regexp = matchers.get(pattern);
  if (!regexp) {
    const body = [...pattern]
      .map((c) => (c === '*' ? '[\\s\\S]*' : c === '?' ? '[\\s\\S]' : c.replace(/[\\^$.|+(){}[\]]/g, '\\$&')))
      .join('');
    regexp = new RegExp(`^${body}$`, 'u');
    matchers.set(pattern, regexp);
  }
  return regexp;
}

function glob(pattern: string, value: string): boolean {
  return globToRegExp(pattern).test(value);
}

/** A hint as the server stated it; anything but a boolean (`"yes"`, `1`, `null`) counts as not stated. */
function statedHint(annotations: ToolFacts['annotations'], hint: AnnotationHint): boolean | undefined {
  const value = annotations?.[hint];
  return typeof value === 'boolean' ? value : undefined;
}

/**
 * A tool's hint with MCP's defaults for one it does not state (ToolAnnotations): not read-only,
 * destructive unless read-only, not idempotent, open-world. A rule on `destructiveHint: true` thus
 * also catches a tool that says nothing, rather than letting it fall through to a later `allow`.
 */
export function effectiveHint(annotations: ToolFacts['annotations'], hint: AnnotationHint): boolean {
  const stated = statedHint(annotations, hint);
  if (stated !== undefined) return stated;
  switch (hint) {
    case 'readOnlyHint':
      return false;
    case 'destructiveHint':
      return statedHint(annotations, 'readOnlyHint') !== true;
    case 'idempotentHint':
      return false;
    case 'openWorldHint':
      return true;
  }
}

function matches(rule: Rule, upstream: string, tool: ToolFacts): boolean {
  if (!glob(rule.upstream, upstream) || !glob(rule.tool, tool.name)) return false;
  if (!rule.annotations) return true;
  for (const [hint, expected] of Object.entries(rule.annotations) as [AnnotationHint, boolean | undefined][]) {
    if (expected !== undefined && effectiveHint(tool.annotations, hint) !== expected) return false;
  }
  return true;
}

/**
 * Decide what happens to a call: ordered rules, first match wins. With no match, a tool
 * whose server says `readOnlyHint: true` is allowed and everything else needs approval
 * (invariant 1: a missing rule never lets a risky call through).
 */
export function evaluate(rules: readonly Rule[], upstream: string, tool: ToolFacts): Verdict {
  const rule = rules.find((candidate) => matches(candidate, upstream, tool));
  if (rule) {
    return {
      action: rule.action,
      ruleId: rule.id,
      reason: rule.reason ?? `matched rule ${rule.id}`,
      approvers: rule.approvers,
      quorum: rule.quorum,
      timeoutSeconds: rule.timeoutSeconds,
      allowEdit: rule.allowEdit,
      maxGrantMinutes: rule.maxGrantMinutes,
    };
  }
  // the same effective value rules see: only a stated `readOnlyHint: true` is read-only
  if (effectiveHint(tool.annotations, 'readOnlyHint')) {
    return {
      action: 'allow',
      ruleId: 'default:read-only',
      reason: 'no rule matched; the tool is annotated read-only',
      approvers: ['approver'],
      quorum: 1,
      timeoutSeconds: DEFAULT_TIMEOUT_SECONDS,
      allowEdit: false,
      maxGrantMinutes: 0,
    };
  }
  return {
    action: 'require_approval',
    ruleId: 'default:approval',
    reason: 'no rule matched and the tool is not annotated read-only',
    approvers: ['approver'],
    quorum: 1,
    timeoutSeconds: DEFAULT_TIMEOUT_SECONDS,
    allowEdit: false,
    maxGrantMinutes: 0,
  };
}
