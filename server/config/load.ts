import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { globToRegExp } from '../policy/evaluate';
import { type RuleInput, ZRule } from '../policy/types';
import { type Config, type ConfigInput, type UpstreamConfig, ZConfig } from './schema';

export class ConfigError extends Error {}

/**
 * The built-in demo upstream: an MCP server of this project over stdio, so the demo works
 * offline. Shared by every session: the fake company's books are one set for everyone (a
 * transfer approved in one session shows in the next one's balance), a session opens in
 * milliseconds rather than after a process start, and it asks agents nothing (no sampling,
 * elicitation or roots), which is what `shared` needs.
 */
export function demoUpstream(): UpstreamConfig {
  return {
    transport: 'stdio',
    command: process.execPath,
    args: ['--import', 'tsx', resolve(import.meta.dirname, '../demo/server.ts')],
    env: {},
    shared: true,
  };
}

/**
 * The demo's own policy, after any configured rules (so those win): risky demo tools are
 * held with the console's options (edit, session grants) turned on to show them.
 */
export const demoRules: RuleInput[] = [
  {
    id: 'demo-transfers',
    upstream: 'demo',
    tool: 'transfer_funds',
    action: 'require_approval',
    allowEdit: true,
    reason: 'Moving money needs a human',
  },
  {
    id: 'demo-email',
    upstream: 'demo',
    tool: 'send_email',
    action: 'require_approval',
    allowEdit: true,
    maxGrantMinutes: 30,
    reason: 'Email leaves the company',
  },
  { id: 'demo-deletes', upstream: 'demo', tool: 'delete_records', action: 'require_approval', reason: 'Deleting records cannot be undone' },
];

/** Validate a config object; adds the demo upstream unless disabled or overridden. */
export function parseConfig(input: ConfigInput | unknown, source = 'config'): Config {
  const result = ZConfig.safeParse(input ?? {});
  if (!result.success) throw new ConfigError(`${source} is invalid:\n${z.prettifyError(result.error)}`);
  const config = result.data;
  if (config.demo && !config.upstreams.demo) {
    config.upstreams = { demo: demoUpstream(), ...config.upstreams };
    config.rules = [...config.rules, ...demoRules.map((rule) => ZRule.parse(rule))];
  }
  // a rule for an upstream that is not configured is a typo, and a typo in a rule fails open
  const names = Object.keys(config.upstreams);
  const stray = config.rules.filter((rule) => !names.some((name) => globToRegExp(rule.upstream).test(name)));
  if (stray.length > 0) {
    const which = stray.map((rule) => `rule ${rule.id}: upstream "${rule.upstream}" matches no configured upstream`).join('\n');
    throw new ConfigError(`${source} is invalid:\n${which}\n(configured: ${names.join(', ') || 'none'})`);
  }
  return config;
}

/** Read `AIRLOCK_CONFIG` (YAML or JSON); no file means the demo alone with default policy. */
export function loadConfig(path = process.env.AIRLOCK_CONFIG): Config {
  if (!path) return parseConfig({});
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config ${path}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError(`cannot parse config ${path}: ${(error as Error).message}`);
  }
  return parseConfig(data, path);
}

/**
 * The stdio upstreams whose command cannot be found (a path that is not an executable file, or
 * a name on no directory of PATH), each as a line for the operator: without it, only the agents
 * would learn, as each session fails to start its upstream.
 */
export function missingCommands(config: Config, env: Record<string, string | undefined> = process.env): string[] {
  const missing: string[] = [];
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    if (upstream.transport !== 'stdio') continue;
    const { command } = upstream;
    if (!findCommand(command, upstream.cwd, env.PATH)) {
      missing.push(
        `upstream ${name}: command "${command}" not found${command.includes('/') ? '' : ' on PATH'}; its sessions will fail to start`,
      );
    }
  }
  return missing;
}

/** The executable file `command` names, as a path (from `cwd`) or by name on `PATH`; null if none. */
export function findCommand(command: string, cwd: string | undefined, path: string | undefined): string | null {
  const candidates = command.includes('/')
    ? [resolve(cwd ?? '.', command)]
    : (path ?? '').split(delimiter).map((dir) => join(dir || '.', command));
  return candidates.find(isExecutableFile) ?? null;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
