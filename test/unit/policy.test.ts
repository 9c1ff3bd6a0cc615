import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missingCommands, parseConfig } from '../../server/config/load';
import { evaluate } from '../../server/policy/evaluate';
import { type RuleInput, type ToolFacts, ZRule } from '../../server/policy/types';

const rules = (input: RuleInput[]) => input.map((rule) => ZRule.parse(rule));

const policy = rules([
  { id: 'fs-reads', upstream: 'filesystem', tool: 'read_*', action: 'allow' },
  { id: 'no-deletes', tool: 'delete_*', action: 'deny', reason: 'never' },
  // before the annotation rules: `destructive` also catches tools that state no hints
  { id: 'github-prs', upstream: 'github', tool: 'create_pull_request', action: 'require_approval', allowEdit: true, maxGrantMinutes: 30 },
  { id: 'destructive', annotations: { destructiveHint: true }, action: 'require_approval', quorum: 2, approvers: ['admin'] },
  { id: 'distrust-readonly', upstream: 'untrusted-*', annotations: { readOnlyHint: true }, action: 'require_approval', timeoutSeconds: 60 },
]);

const tool = (name: string, annotations?: ToolFacts['annotations']): ToolFacts => ({ name, annotations });

describe('policy evaluation: ordered rules, first match wins', () => {
  it.each([
    // upstream, tool, expected action, expected rule
    ['filesystem', tool('read_file'), 'allow', 'fs-reads'],
    ['filesystem', tool('read_file', { destructiveHint: true }), 'allow', 'fs-reads'],
    ['other', tool('read_file'), 'require_approval', 'destructive'],
    ['other', tool('read_file', { readOnlyHint: true }), 'allow', 'default:read-only'],
    ['filesystem', tool('delete_tree', { readOnlyHint: true }), 'deny', 'no-deletes'],
    ['any', tool('wipe', { destructiveHint: true }), 'require_approval', 'destructive'],
    ['any', tool('wipe', { destructiveHint: false }), 'require_approval', 'default:approval'],
    ['untrusted-web', tool('fetch', { readOnlyHint: true }), 'require_approval', 'distrust-readonly'],
    ['trusted-web', tool('fetch', { readOnlyHint: true }), 'allow', 'default:read-only'],
    ['github', tool('create_pull_request', { openWorldHint: true }), 'require_approval', 'github-prs'],
    ['github', tool('create_pull_request_review'), 'require_approval', 'destructive'],
    // a hint the tool does not state takes MCP's default: not read-only, so destructive
    ['x', tool('thing'), 'require_approval', 'destructive'],
    ['x', tool('thing', null), 'require_approval', 'destructive'],
    ['x', tool('thing', { readOnlyHint: false }), 'require_approval', 'destructive'],
  ] as const)('%s / %o → %s (%s)', (upstream, facts, action, ruleId) => {
    const verdict = evaluate(policy, upstream, facts);
    expect(verdict.action).toBe(action);
    expect(verdict.ruleId).toBe(ruleId);
  });

  it('carries the matched rule’s approvers, quorum, timeout, edit and grant options', () => {
    expect(evaluate(policy, 'x', tool('wipe', { destructiveHint: true }))).toMatchObject({
      approvers: ['admin'],
      quorum: 2,
      timeoutSeconds: 600,
    });
    expect(evaluate(policy, 'untrusted-a', tool('f', { readOnlyHint: true }))).toMatchObject({ timeoutSeconds: 60, quorum: 1 });
    expect(evaluate(policy, 'github', tool('create_pull_request'))).toMatchObject({ allowEdit: true, maxGrantMinutes: 30 });
  });

  it('defaults fail closed: no rule and no read-only hint means approval, with a 10 minute timeout', () => {
    expect(evaluate([], 'u', tool('anything'))).toMatchObject({
      action: 'require_approval',
      timeoutSeconds: 600,
      quorum: 1,
      allowEdit: false,
      maxGrantMinutes: 0,
    });
  });

  it.each([
    // tool annotations as sent, expected action, expected rule
    [undefined, 'require_approval', 'destructive'],
    [null, 'require_approval', 'destructive'],
    [{}, 'require_approval', 'destructive'],
    [{ title: 'Drop table' }, 'require_approval', 'destructive'],
    [{ openWorldHint: false }, 'require_approval', 'destructive'],
    [{ readOnlyHint: false }, 'require_approval', 'destructive'],
    // a hostile server's non-boolean is no hint at all, so the default applies
    [{ destructiveHint: 'no' }, 'require_approval', 'destructive'],
    [{ destructiveHint: 0 }, 'require_approval', 'destructive'],
    [{ destructiveHint: null }, 'require_approval', 'destructive'],
    [{ readOnlyHint: 'yes' }, 'require_approval', 'destructive'],
    [{ readOnlyHint: 1 }, 'require_approval', 'destructive'],
    // a read-only tool is not destructive unless it says so
    [{ readOnlyHint: true }, 'allow', 'rest'],
    [{ readOnlyHint: true, destructiveHint: true }, 'require_approval', 'destructive'],
    [{ destructiveHint: false }, 'allow', 'rest'],
    [{ readOnlyHint: false, destructiveHint: false }, 'allow', 'rest'],
  ] as const)('a destructiveHint rule before a catch-all allow: %o → %s (%s)', (annotations, action, ruleId) => {
    const readme = rules([
      { id: 'destructive', annotations: { destructiveHint: true }, action: 'require_approval' },
      { id: 'rest', action: 'allow' },
    ]);
    const verdict = evaluate(readme, 'db', tool('drop_table', annotations));
    expect(verdict.action).toBe(action);
    expect(verdict.ruleId).toBe(ruleId);
  });

  it.each([
    // rule condition, tool annotations as sent, whether the rule matches
    [{ readOnlyHint: false }, undefined, true],
    [{ readOnlyHint: true }, undefined, false],
    [{ readOnlyHint: true }, { readOnlyHint: 'true' }, false],
    [{ readOnlyHint: true }, { readOnlyHint: true }, true],
    [{ idempotentHint: false }, {}, true],
    [{ idempotentHint: true }, { idempotentHint: 'yes' }, false],
    [{ idempotentHint: true }, { idempotentHint: true }, true],
    [{ openWorldHint: true }, null, true],
    [{ openWorldHint: false }, { title: 'Search' }, false],
    [{ openWorldHint: false }, { openWorldHint: 0 }, false],
    [{ openWorldHint: false }, { openWorldHint: false }, true],
    [{ destructiveHint: false }, { readOnlyHint: true }, true],
    [{ destructiveHint: false }, { readOnlyHint: 'true' }, false],
    [{ destructiveHint: true, openWorldHint: true }, undefined, true],
    [{ readOnlyHint: false, destructiveHint: false }, undefined, false],
  ] as const)('a rule on %o matches a tool annotated %o: %s (MCP defaults)', (condition, annotations, matched) => {
    const only = rules([{ id: 'hit', annotations: condition, action: 'deny' }]);
    expect(evaluate(only, 'u', tool('t', annotations)).ruleId === 'hit').toBe(matched);
  });

  it.each([
    [undefined, 'require_approval'],
    [null, 'require_approval'],
    [{ title: 'Look' }, 'require_approval'],
    [{ readOnlyHint: false }, 'require_approval'],
    [{ readOnlyHint: 'true' }, 'require_approval'],
    [{ readOnlyHint: 1 }, 'require_approval'],
    [{ readOnlyHint: true }, 'allow'],
  ] as const)('with no rule, only a stated readOnlyHint: true is allowed: %o → %s', (annotations, action) => {
    expect(evaluate([], 'u', tool('t', annotations)).action).toBe(action);
  });

  it('a slash in an untrusted tool name does not slip past * or prefix globs', () => {
    const strict = rules([
      { id: 'no-deletes', tool: 'delete*', action: 'deny' },
      { id: 'gh-all', upstream: 'github', tool: '*', action: 'require_approval' },
    ]);
    expect(evaluate(strict, 'github', tool('repos/delete', { readOnlyHint: true })).ruleId).toBe('gh-all');
    expect(evaluate(strict, 'other', tool('delete/all', { readOnlyHint: true })).ruleId).toBe('no-deletes');
    expect(evaluate(strict, 'other', tool('a.b', { readOnlyHint: true })).ruleId).toBe('default:read-only');
    expect(evaluate(rules([{ id: 'dot', tool: 'a.b', action: 'deny' }]), 'x', tool('axb')).action).toBe('require_approval');
  });

  it('glob matching is exact on names, not substrings', () => {
    const only = rules([{ id: 'send', tool: 'send', action: 'deny' }]);
    expect(evaluate(only, 'u', tool('send')).action).toBe('deny');
    expect(evaluate(only, 'u', tool('send_email')).action).toBe('require_approval');
  });
});

describe('rule and config validation', () => {
  it.each([
    [{ id: 'r', action: 'maybe' }, 'action'],
    [{ id: '', action: 'allow' }, 'id'],
    [{ id: 'r', action: 'allow', quorum: 0 }, 'quorum'],
    [{ id: 'r', action: 'allow', approvers: ['root'] }, 'approvers'],
    [{ id: 'r', action: 'allow', annotations: { readOnly: true } }, 'annotations'],
    [{ id: 'r', action: 'allow', unknown: 1 }, 'unknown'],
    [{ id: 'r', action: 'allow', timeoutSeconds: 0 }, 'timeoutSeconds'],
  ])('refuses %o', (input, field) => {
    const result = ZRule.safeParse(input);
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain(field);
  });

  it('refuses duplicate rule ids and bad upstream declarations with a readable message', () => {
    expect(() =>
      parseConfig({
        rules: [
          { id: 'a', action: 'allow' },
          { id: 'a', action: 'deny' },
        ],
      }),
    ).toThrow(/duplicate rule id "a"/);
    expect(() => parseConfig({ upstreams: { 'bad name!': { transport: 'stdio', command: 'x' } } })).toThrow(/upstream names/);
    expect(() => parseConfig({ upstreams: { web: { transport: 'http', url: 'ftp://x' } } })).toThrow(/invalid/);
  });

  it('refuses rules that would silently match nothing: other glob dialects, and upstreams not configured', () => {
    const upstreams = { fs: { transport: 'stdio' as const, command: 'x' } };
    for (const tool of ['{write_file,edit_file}', 'write_[a-z]*', 'read_file, write_file', 'write file']) {
      expect(() => parseConfig({ demo: false, upstreams, rules: [{ id: 'r', tool, action: 'require_approval' }] }), tool).toThrow(
        /globs take only \* and \? as wildcards/,
      );
    }
    expect(() => parseConfig({ demo: false, upstreams, rules: [{ id: 'typo', upstream: 'filesystem', action: 'deny' }] })).toThrow(
      /rule typo: upstream "filesystem" matches no configured upstream\n\(configured: fs\)/,
    );
    // a pattern that matches one of them, and the default, are fine
    expect(
      parseConfig({
        demo: false,
        upstreams,
        rules: [
          { id: 'a', upstream: 'f?', action: 'deny' },
          { id: 'b', action: 'allow' },
        ],
      }).rules,
    ).toHaveLength(2);
  });

  it('names the stdio upstreams whose command cannot be found, for the start-up log', () => {
    const config = parseConfig({
      demo: false,
      upstreams: {
        node: { transport: 'stdio', command: process.execPath },
        onPath: { transport: 'stdio', command: 'node' },
        gone: { transport: 'stdio', command: '/nonexistent/mcp-server' },
        typo: { transport: 'stdio', command: 'mcp-server-that-is-not-installed' },
        remote: { transport: 'http', url: 'https://mcp.example.com/mcp' },
      },
    });
    expect(missingCommands(config, { PATH: dirname(process.execPath) })).toEqual([
      'upstream gone: command "/nonexistent/mcp-server" not found; its sessions will fail to start',
      'upstream typo: command "mcp-server-that-is-not-installed" not found on PATH; its sessions will fail to start',
    ]);
  });

  it('sets session limits with defaults, and refuses nonsense ones', () => {
    expect(parseConfig({}).sessions).toEqual({ idleMinutes: 30, max: 500, maxPerAgent: 50 });
    expect(parseConfig({ sessions: { maxPerAgent: 5 } }).sessions).toEqual({ idleMinutes: 30, max: 500, maxPerAgent: 5 });
    expect(() => parseConfig({ sessions: { maxPerAgent: 0 } })).toThrow(/sessions\.maxPerAgent/);
    expect(() => parseConfig({ sessions: { idleMinutes: -1 } })).toThrow(/sessions\.idleMinutes/);
    expect(() => parseConfig({ sessions: { perAgent: 5 } })).toThrow(/perAgent/);
  });

  it('adds the demo upstream and its rules after the configured ones', () => {
    const config = parseConfig({ rules: [{ id: 'mine', upstream: 'demo', tool: 'send_email', action: 'deny' }] });
    expect(config.upstreams.demo).toBeDefined();
    expect(evaluate(config.rules, 'demo', tool('send_email')).ruleId).toBe('mine');
    expect(evaluate(config.rules, 'demo', tool('transfer_funds')).ruleId).toBe('demo-transfers');
    expect(parseConfig({ demo: false }).upstreams.demo).toBeUndefined();
  });
});
