import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { openDatabase } from '../../db/client';
import { createAgent } from '../../server/auth/agents';
import { createUser } from '../../server/auth/users';
import { parseConfig } from '../../server/config/load';
import { startAirlock } from '../../server/index';
import { compareRuns, findNode22, formatRun, listScenarios, runConformance } from './run';

const FIXTURE = resolve(import.meta.dirname, '../fixtures/conformance-server.ts');
const MISSING_NODE22 =
  'the conformance suite needs Node >= 22: run `node --import tsx test/conformance/run.ts install-node22` or set AIRLOCK_NODE22';
const node22 = findNode22();
const inCi = Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';

/** The Node 22 binary; without one a test fails on CI and is skipped (with the reason) elsewhere. */
function requireNode22(ctx: TestContext): string {
  if (node22) return node22;
  if (inCi) throw new Error(MISSING_NODE22);
  return ctx.skip(MISSING_NODE22);
}

type Fixture = { url: string; process: ChildProcess };

/** The fixture upstream as its own process on Node 20, as an upstream of Airlock would run. */
async function startFixture(env: Record<string, string> = {}): Promise<Fixture> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, '--port', '0'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.once('exit', (code) => reject(new Error(`conformance fixture exited with ${code} before listening`)));
    lines.once('line', (line) => resolveUrl((JSON.parse(line) as { listening: string }).listening));
  });
  return { url, process: child };
}

describe('MCP conformance suite, server mode', () => {
  let outDir: string;
  let fixture: Fixture;
  let protectedFixture: Fixture;
  const token = 'conformance-test-token';

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'airlock-conformance-'));
    [fixture, protectedFixture] = await Promise.all([startFixture(), startFixture({ CONFORMANCE_BEARER_TOKEN: token })]);
  });

  afterAll(async () => {
    fixture?.process.kill();
    protectedFixture?.process.kill();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it('passes every scenario of the suite directly against the fixture upstream', async (ctx) => {
    const node22Path = requireNode22(ctx);
    const run = await runConformance({ url: fixture.url, node22Path, outDir, suite: 'all' });
    console.log(formatRun(run));

    expect(run.scenarios.map((result) => result.scenario).sort()).toEqual((await listScenarios(node22Path)).sort());
    expect(run.scenarios.filter((result) => !result.passed).map((result) => result.scenario)).toEqual([]);
    expect(run.exitCode).toBe(0);
  });

  it('reaches an endpoint that requires a bearer token when given the header', async (ctx) => {
    const node22Path = requireNode22(ctx);
    const without = await runConformance({ url: protectedFixture.url, node22Path, outDir, scenario: 'server-initialize' });
    expect(without.scenarios[0].passed).toBe(false);

    const run = await runConformance({
      url: protectedFixture.url,
      node22Path,
      outDir,
      suite: 'all',
      headers: { Authorization: `Bearer ${token}` },
    });
    console.log(formatRun(run));
    expect(run.scenarios.filter((result) => !result.passed).map((result) => result.scenario)).toEqual([]);
    expect(run.scenarios.length).toBeGreaterThanOrEqual(30);
  });

  // invariant 9: transparent where it does not intervene, judged by the suite itself
  it('passes the same scenarios through Airlock with allow rules as directly', async (ctx) => {
    const node22Path = requireNode22(ctx);
    const airlock = await startAirlock({
      config: parseConfig({
        demo: false,
        upstreams: { conformance: { transport: 'http', url: fixture.url } },
        rules: [{ id: 'conformance-allowed', upstream: 'conformance', action: 'allow' }],
      }),
      database: await openDatabase({ dataDir: 'memory://' }),
      port: 0,
      console: false,
    });
    try {
      await createUser(airlock.database, { email: 'owner@example.com', role: 'approver' });
      const { token: agentToken } = await createAgent(airlock.database, { name: 'conformance', ownerEmail: 'owner@example.com' });
      const direct = await runConformance({ url: fixture.url, node22Path, outDir, suite: 'all' });
      const gated = await runConformance({
        url: `${airlock.url}/mcp/conformance`,
        node22Path,
        outDir,
        suite: 'all',
        headers: { Authorization: `Bearer ${agentToken}` },
      });
      console.log(formatRun(gated));
      expect(gated.scenarios.length).toBe(direct.scenarios.length);
      // the fixture answers every POST as SSE; Airlock answers one whose answer is ready at once as JSON
      const optional = {
        'server-sse-streams-functional':
          'SSE is optional for a POST’s answer: the suite reads an SSE event from each stream it gets, and reports JSON answers as INFO',
      };
      expect(compareRuns(direct, gated, optional)).toEqual([]);
    } finally {
      await airlock.close();
      await airlock.database.close();
    }
  });
});
