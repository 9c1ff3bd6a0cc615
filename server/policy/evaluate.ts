import type { Rule, ToolFacts, Verdict } from './types';

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

function matches(rule: Rule, upstream: string, tool: ToolFacts): boolean {
  if (!glob(rule.upstream, upstream) || !glob(rule.tool, tool.name)) return false;
  for (const [key, expected] of Object.entries(rule.annotations ?? {})) {
    const actual = tool.annotations?.[key as keyof NonNullable<ToolFacts['annotations']>];
    if (actual !== expected) return false;
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
  if (tool.annotations?.readOnlyHint === true) {
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
