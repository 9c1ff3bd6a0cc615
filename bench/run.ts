/**
 * `npm run bench`: Airlock next to a direct stdio connection and mcp-proxy, same echo upstream.
 *
 *   latency     p50/p99 of sequential tools/call (one session per path, rounds interleaved)
 *   throughput  calls/s with 32 concurrent clients, each its own MCP session (repetitions interleaved across paths)
 *   approval    held calls decided by a scripted reviewer: call → listed, decision → result
 *   holding     thousands of concurrent held calls in one Airlock process: memory per call
 *   console     the reviewer console in Chromium: first page with 10,000 pending requests,
 *               held call → its row in the open page's DOM (bench/console.ts)
 *
 * Airlock runs on PGlite in a data directory on disk (its default), and also on PostgreSQL when DATABASE_URL is set (in a
 * database of its own, dropped afterwards). Every server is a child process: the client and
 * the server never share an event loop.
 *
 * Environment: BENCH_QUICK=1 (small run), BENCH_CALLS (sequential calls per path),
 * BENCH_TPUT_CALLS (calls per path in the throughput phase), BENCH_APPROVALS, BENCH_HOLD
 * (e.g. 20x100: sessions x concurrent calls each), BENCH_PHASES (comma list of
 * latency,throughput,approval,holding,console), BENCH_CONSOLE_SEED (pending requests seeded
 * for the console phase), BENCH_CONSOLE_CALLS (held calls per live measurement),
 * BENCH_CONSOLE_LOADS (navigations for the first-page figures), BENCH_PROFILE=1 (V8 CPU
 * profile of each Airlock process per phase, summarized at the end), BENCH_REVIEWER=http|ipc
 * (see bench/reviewer.ts; default http when the console has a production build in .next,
 * else ipc).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { relative, resolve } from 'node:path';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { connectPostgres } from '../db/client';
import { consoleBuildState } from '../test/helpers/console-build';
import type { LoopDelay } from './airlock-child';
import { type ConsoleResult, consolePhase, consoleSkipReason } from './console';
import { cpuMs, cpuMsOf, descendants, killAll, openFds, removeLogs } from './procs';
import { type ProfileSummary, summarizeProfile } from './profile-summary';
import { IpcReviewer, makeReviewer, type Reviewer, type ReviewerKind } from './reviewer';
import { epochMs, kib, mapConcurrent, mib, round, type Summary, sleep, summarize } from './stats';
import { AirlockTarget, directTarget, mcpProxyTarget, type Session, slug, type Target } from './targets';

// The SDK's HTTP client gives every fetch of a session one AbortSignal, and undici drops its
// listener there only when the request is collected: thousands of sequential calls on one
// session pass Node's warning threshold (1,500) between collections. Bounded, not a leak.
setMaxListeners(0);

// ─── configuration ─────────────────────────────────────────────────────────────

const QUICK = process.env.BENCH_QUICK === '1';
const int = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
};
const CALLS = int('BENCH_CALLS', QUICK ? 300 : 2000);
const WARMUP = QUICK ? 50 : 200;
const ROUNDS = 4;
const CLIENTS = 32;
const TPUT_CALLS = int('BENCH_TPUT_CALLS', QUICK ? 960 : 3200);
const TPUT_REPS = 4;
/** Calls per session before the throughput is measured, on every path (JIT-compiled code in each process). */
const TPUT_WARMUP = QUICK ? 10 : 50;
const APPROVALS = int('BENCH_APPROVALS', QUICK ? 50 : 200);
const [HOLD_SESSIONS, HOLD_PER_SESSION] = (process.env.BENCH_HOLD ?? (QUICK ? '10x50' : '20x100')).split('x').map(Number);
const HOLD_TOTAL = HOLD_SESSIONS * HOLD_PER_SESSION;
const HOLD_DEADLINE_MS = 120_000;
const CONSOLE_SEED = int('BENCH_CONSOLE_SEED', 10_000);
const CONSOLE_CALLS = int('BENCH_CONSOLE_CALLS', QUICK ? 20 : 50);
const CONSOLE_LOADS = int('BENCH_CONSOLE_LOADS', QUICK ? 5 : 8);
const PHASES = new Set((process.env.BENCH_PHASES ?? 'latency,throughput,approval,holding,console').split(',').map((p) => p.trim()));
const PROFILE = process.env.BENCH_PROFILE === '1';
const here = import.meta.dirname;
// the reviewer uses the JSON API when the console's build is fresh (the test suite's rule); otherwise it calls the domain over IPC and says so
const CONSOLE_BUILD = consoleBuildState();
const REVIEWER: ReviewerKind =
  process.env.BENCH_REVIEWER === 'ipc' || process.env.BENCH_REVIEWER === 'http'
    ? process.env.BENCH_REVIEWER
    : CONSOLE_BUILD === 'fresh'
      ? 'http'
      : 'ipc';

/** The console phase needs Chromium and a build of the console; without them it is skipped, with the reason. */
const CONSOLE_SKIPPED = PHASES.has('console') ? consoleSkipReason(CONSOLE_BUILD) : undefined;
const RUN_CONSOLE = PHASES.has('console') && !CONSOLE_SKIPPED;

const resultsDir = resolve(here, 'results');
const profileDir = resolve(resultsDir, 'profiles');

const TARGETS = { latencyP50: 20, latencyP99: 100, holdKiB: 50, consoleFirstPageMs: 1000, consoleCallToDomP50Ms: 100 };

// ─── cleanup on every exit path ────────────────────────────────────────────────

const cleanups: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) await fn().catch((error) => console.error('cleanup:', String(error)));
    killAll();
  })();
  return cleaning;
}
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: stopping child processes`);
    const force = setTimeout(() => process.exit(130), 8000);
    void cleanup().finally(() => {
      clearTimeout(force);
      process.exit(130);
    });
  });
}

// ─── helpers ───────────────────────────────────────────────────────────────────

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function textOf(result: unknown): string | undefined {
  const content = (result as CallToolResult).content;
  const first = Array.isArray(content) ? content[0] : undefined;
  return first?.type === 'text' ? first.text : undefined;
}

async function echo(session: Session, message: string, tool = 'echo', timeout?: number): Promise<void> {
  const result = await session.client.callTool({ name: tool, arguments: { message } }, undefined, timeout ? { timeout } : undefined);
  if (result.isError || textOf(result) !== message) throw new Error(`${tool} returned ${JSON.stringify(result).slice(0, 300)}`);
}

/** An error with its cause chain (fetch wraps the socket error in `cause`). */
function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e && parts.length < 4; e = (e as { cause?: unknown }).cause) {
    const { code, message } = e as { code?: string; message?: string };
    parts.push(`${code ? `${code} ` : ''}${message ?? String(e)}`.slice(0, 160));
  }
  return parts.join(' ← ');
}

async function connectMany(target: Target, n: number, concurrency: number): Promise<Session[]> {
  return mapConcurrent(Array.from({ length: n }), concurrency, () => target.connect());
}

async function closeAll(sessions: Session[]): Promise<void> {
  await mapConcurrent(sessions, 8, (s) => s.close().catch(() => {}));
}

/**
 * CPU per call of each process on the path: the benchmark's client, the server between,
 * the upstream(s), and on PostgreSQL the database backends serving Airlock (same two cores).
 */
type CpuPerCall = { client: number; server: number | null; upstream: number; database: number | null };

function isEchoServer(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('echo-server.mjs');
  } catch {
    return false;
  }
}

/** Accumulates CPU over measured slices only (not warm-up, not session setup). */
class CpuMeter {
  private client = 0;
  private server = 0;
  private upstream = 0;
  private database = 0;
  constructor(private readonly target: Target) {}

  async measure<T>(sessions: Session[], fn: () => Promise<T>): Promise<T> {
    const { target } = this;
    const upstreamPids = target.pid
      ? descendants(target.pid).filter(isEchoServer)
      : sessions.flatMap((s) => (s.upstreamPid ? [s.upstreamPid] : []));
    const dbBefore = (await target.databasePids?.()) ?? [];
    const client0 = process.cpuUsage();
    const server0 = target.pid ? cpuMs(target.pid) : 0;
    const upstream0 = cpuMsOf(upstreamPids);
    const database0 = cpuMsOf(dbBefore);
    const result = await fn();
    const client = process.cpuUsage(client0);
    this.client += (client.user + client.system) / 1000;
    this.server += target.pid ? cpuMs(target.pid) - server0 : 0;
    this.upstream += cpuMsOf(upstreamPids) - upstream0;
    // a backend opened during the slice counts whole
    const dbAfter = (await target.databasePids?.()) ?? [];
    this.database += cpuMsOf(dbBefore) - database0 + cpuMsOf(dbAfter.filter((pid) => !dbBefore.includes(pid)));
    return result;
  }

  perCall(calls: number): CpuPerCall {
    const us = (ms: number) => round((ms * 1000) / calls, 0);
    return {
      client: us(this.client),
      server: this.target.pid ? us(this.server) : null,
      upstream: us(this.upstream),
      database: this.target.databasePids ? us(this.database) : null,
    };
  }
}

// ─── per phase: event-loop delay of each Airlock process, and its CPU profile (BENCH_PROFILE=1) ───

const profileFiles: { target: string; phase: string; file: string }[] = [];
/** Event-loop delay (ms) of each Airlock process, by target then phase. */
const loopDelays: Record<string, Record<string, LoopDelay>> = {};

async function readLoopDelay(airlock: AirlockTarget, phase: string): Promise<void> {
  const delay = await airlock.request<LoopDelay>({ op: 'loopDelay' });
  loopDelays[airlock.name] ??= {};
  loopDelays[airlock.name][phase] = { p50: round(delay.p50, 1), p99: round(delay.p99, 1), max: round(delay.max, 1) };
}

async function observed<T>(airlocks: AirlockTarget[], phase: string, fn: () => Promise<T>): Promise<T> {
  await Promise.all(airlocks.map((a) => a.request({ op: 'loopDelay' }))); // resets
  if (PROFILE) await Promise.all(airlocks.map((a) => a.request({ op: 'profileStart' })));
  try {
    return await fn();
  } finally {
    for (const a of airlocks) {
      await readLoopDelay(a, phase);
      if (!PROFILE) continue;
      const file = resolve(profileDir, `${slug(a.name)}-${slug(phase)}.cpuprofile`);
      await a.request({ op: 'profileStop', file });
      profileFiles.push({ target: a.name, phase, file });
    }
  }
}

const airlocksOf = (targets: Target[]) => targets.filter((t): t is AirlockTarget => t instanceof AirlockTarget);

// ─── phase 1: sequential latency ───────────────────────────────────────────────

type LatencyResult = Summary & { cpuUsPerCall: CpuPerCall };

async function latencyPhase(targets: Target[]): Promise<Record<string, LatencyResult>> {
  log(`latency: ${CALLS} sequential calls per path (${ROUNDS} interleaved rounds, ${WARMUP} warm-up calls)`);
  const sessions = await Promise.all(targets.map((t) => t.connect()));
  for (const [i, session] of sessions.entries()) for (let j = 0; j < WARMUP; j++) await echo(session, `warm-${i}-${j}`);
  const samples = targets.map(() => [] as number[]);
  const meters = targets.map((t) => new CpuMeter(t));
  const perRound = Math.ceil(CALLS / ROUNDS);
  await observed(airlocksOf(targets), 'latency', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      // rotate the order so drift of a noisy machine is spread over all paths
      for (let k = 0; k < targets.length; k++) {
        const i = (k + round) % targets.length;
        await meters[i].measure([sessions[i]], async () => {
          for (let j = 0; j < perRound; j++) {
            const t0 = performance.now();
            await echo(sessions[i], `m-${round}-${j}`);
            samples[i].push(performance.now() - t0);
          }
        });
      }
    }
  });
  await Promise.all(sessions.map((s) => s.close()));
  return Object.fromEntries(
    targets.map((t, i) => [t.name, { ...summarize(samples[i]), cpuUsPerCall: meters[i].perCall(samples[i].length) }]),
  );
}

// ─── phase 2: throughput with 32 concurrent sessions ───────────────────────────

type ThroughputResult = {
  callsPerSec: number;
  calls: number;
  clients: number;
  reps: number[];
  latency: Summary;
  cpuUsPerCall: CpuPerCall;
  sessionSetupMs: number;
};

async function throughputPhase(targets: Target[]): Promise<Record<string, ThroughputResult>> {
  const perClient = Math.ceil(TPUT_CALLS / TPUT_REPS / CLIENTS);
  log(`throughput: ${CLIENTS} sessions per path, ${TPUT_REPS} reps of ${perClient * CLIENTS} calls, interleaved across paths`);
  type Run = {
    target: Target;
    sessions: Session[];
    sessionSetupMs: number;
    reps: number[];
    latencies: number[];
    elapsed: number;
    meter: CpuMeter;
  };
  const runs: Run[] = [];
  try {
    // every path's sessions open and warm first, so each repetition can visit every path in turn
    for (const target of targets) {
      const t0 = performance.now();
      const sessions = await connectMany(target, CLIENTS, 8);
      runs.push({
        target,
        sessions,
        sessionSetupMs: performance.now() - t0,
        reps: [],
        latencies: [],
        elapsed: 0,
        meter: new CpuMeter(target),
      });
      await Promise.all(
        sessions.map(async (s, i) => {
          for (let j = 0; j < TPUT_WARMUP; j++) await echo(s, `warm-${i}-${j}`);
        }),
      );
    }
    await observed(airlocksOf(targets), 'throughput', async () => {
      for (let rep = 0; rep < TPUT_REPS; rep++) {
        // rotate the order, as the latency rounds do: a noisy spell of this shared machine falls on every path alike
        for (let k = 0; k < runs.length; k++) {
          const run = runs[(k + rep) % runs.length];
          const start = performance.now();
          await run.meter.measure(run.sessions, () =>
            Promise.all(
              run.sessions.map(async (s, i) => {
                for (let j = 0; j < perClient; j++) {
                  const c0 = performance.now();
                  await echo(s, `t-${rep}-${i}-${j}`);
                  run.latencies.push(performance.now() - c0);
                }
              }),
            ),
          );
          const ms = performance.now() - start;
          run.reps.push(round((perClient * CLIENTS * 1000) / ms, 1));
          run.elapsed += ms;
        }
      }
    });
  } finally {
    await Promise.all(runs.map((run) => closeAll(run.sessions)));
  }
  const out: Record<string, ThroughputResult> = {};
  for (const run of runs) {
    const calls = perClient * CLIENTS * run.reps.length;
    out[run.target.name] = {
      callsPerSec: round((calls * 1000) / run.elapsed, 1),
      calls,
      clients: CLIENTS,
      reps: run.reps,
      latency: summarize(run.latencies),
      cpuUsPerCall: run.meter.perCall(calls),
      sessionSetupMs: round(run.sessionSetupMs, 0),
    };
    log(`  ${run.target.name}: ${out[run.target.name].callsPerSec} calls/s (reps ${run.reps.join(', ')})`);
  }
  return out;
}

// ─── phase 3: the approval loop ────────────────────────────────────────────────

type ApprovalResult = {
  calls: number;
  reviewer: 'ipc' | 'http';
  /** Agent sends the call → the reviewer's list contains it (NOTIFY, then list). */
  sentToListed: Summary;
  /** Agent sends the call → the NOTIFY reaches the reviewer's listener in the Airlock process. */
  sentToNotify: Summary;
  /** Reviewer sends the decision → the result reaches the agent. */
  decisionToResult: Summary;
  /** The decide() round trip alone (transaction, audit, NOTIFY). */
  decideRoundTrip: Summary;
  /** decide() returned → the result reaches the agent (hold release, re-check, forward, audit). */
  decidedToResult: Summary;
};

type Trace = { sent: number; notified?: number; listed?: number; decideStart?: number; decideEnd?: number; done?: number };

async function approvalPhase(airlock: AirlockTarget, reviewer: Reviewer): Promise<ApprovalResult> {
  log(`approval loop (${airlock.name}): ${APPROVALS} held calls, reviewer over ${reviewer.kind}`);
  const session = await airlock.connect();
  const traces = new Map<string, Trace>();
  const byRequest = new Map<string, string>();
  let draining = false;
  let again = false;
  let fail!: (error: unknown) => void;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => {});

  // the scripted reviewer: on each new pending request, list the queue and approve what is new
  const drain = async () => {
    if (draining) {
      again = true;
      return;
    }
    draining = true;
    try {
      do {
        again = false;
        const items = await reviewer.listPending(50);
        const listedAt = epochMs();
        for (const item of items) {
          const message = (item.arguments as { message?: string }).message ?? '';
          const trace = traces.get(message);
          if (!trace || trace.listed !== undefined) continue;
          trace.listed = listedAt;
          byRequest.set(item.id, message);
          trace.decideStart = epochMs();
          await reviewer.decide(item.id, 'approve');
          trace.decideEnd = epochMs();
        }
      } while (again);
    } catch (error) {
      fail(error); // the held call would otherwise wait for its timeout
    } finally {
      draining = false;
    }
  };
  const pendingNotifies: number[] = [];
  const unsubscribe = await reviewer.onChange((change, at) => {
    if (change.status !== 'pending') return;
    const message = byRequest.get(change.id);
    // the id is not known before listing: remember the first notification time per new request
    if (!message) pendingNotifies.push(at);
    void drain();
  });

  try {
    await echo(session, 'warm'); // spawns the upstream, loads the tool catalog
    const warmups = 5;
    for (let i = -warmups; i < APPROVALS; i++) {
      const message = `risky-${i}`;
      const trace: Trace = { sent: epochMs() };
      pendingNotifies.length = 0;
      traces.set(message, trace);
      await Promise.race([echo(session, message, 'echo_risky', 60_000), failed]);
      trace.done = epochMs();
      trace.notified = pendingNotifies[0];
      if (i < 0) traces.delete(message);
    }
  } finally {
    unsubscribe();
    await session.close();
  }
  const all = [...traces.values()];
  const pick = (f: (t: Trace) => number | undefined) => all.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
  return {
    calls: all.length,
    reviewer: reviewer.kind,
    sentToListed: summarize(pick((t) => t.listed! - t.sent)),
    sentToNotify: summarize(pick((t) => (t.notified === undefined ? undefined : t.notified - t.sent))),
    decisionToResult: summarize(pick((t) => t.done! - t.decideStart!)),
    decideRoundTrip: summarize(pick((t) => t.decideEnd! - t.decideStart!)),
    decidedToResult: summarize(pick((t) => t.done! - t.decideEnd!)),
  };
}

// ─── phase 4: holding many calls at once ───────────────────────────────────────

type HoldingResult = {
  sessions: number;
  callsPerSession: number;
  held: number;
  holdAllMs: number;
  rssBeforeMiB: number;
  rssHeldMiB: number;
  rssAfterMiB: number;
  rssPerHeldKiB: number;
  heapPerHeldKiB: number;
  externalPerHeldKiB: number;
  fdsHeld: number;
  releaseAllMs: number;
  completedCorrectly: number;
  failures: string[];
};

/**
 * The calls are released through the domain (`decide` in the Airlock process, IPC reviewer),
 * not the HTTP API: this phase is about memory and correctness, the approval loop measures
 * the API, and going through Next for 2,000 decisions would double the run time.
 */
async function holdingPhase(airlock: AirlockTarget): Promise<HoldingResult> {
  const reviewer = new IpcReviewer(airlock);
  log(`holding (${airlock.name}): ${HOLD_SESSIONS} sessions x ${HOLD_PER_SESSION} concurrent held calls = ${HOLD_TOTAL}`);
  const sessions = await connectMany(airlock, HOLD_SESSIONS, 5);
  try {
    await Promise.all(sessions.map((s, i) => echo(s, `warm-${i}`)));
    // one held call per session first, so that per-session one-off costs are not counted per call
    await Promise.all(sessions.map((s, i) => holdAndRelease(s, reviewer, `prime-${i}`)));
    await sleep(500);
    const before = await airlock.memory();

    await airlock.request({ op: 'loopDelay' }); // reset: the arrival of the calls is measured on its own
    const t0 = performance.now();
    const expected: string[] = [];
    const calls: Promise<void>[] = [];
    const early: string[] = [];
    for (const [i, session] of sessions.entries()) {
      for (let j = 0; j < HOLD_PER_SESSION; j++) {
        const message = `hold-${i}-${j}`;
        expected.push(message);
        const call = echo(session, message, 'echo_risky', 600_000);
        call.catch((error) => early.push(`${message}: ${describeError(error)}`));
        calls.push(call);
      }
    }
    const settled = Promise.allSettled(calls);
    const deadline = Date.now() + HOLD_DEADLINE_MS;
    // wait until every call is held or has failed at the client (a failure is reported, not fatal)
    let pending = await airlock.request<number>({ op: 'countPending' });
    while (pending + early.length < HOLD_TOTAL && Date.now() < deadline) {
      await sleep(100);
      pending = await airlock.request<number>({ op: 'countPending' });
    }
    const holdAllMs = performance.now() - t0;
    const arrival: string[] = [];
    if (pending < HOLD_TOTAL) {
      const bySession = await airlock.request<Record<string, number>>({ op: 'pendingBySession' });
      const short = sessions.map((s, i) => `#${i}:${bySession[s.sessionId ?? ''] ?? 0}`).filter((x) => !x.endsWith(`:${HOLD_PER_SESSION}`));
      arrival.push(
        `only ${pending} of ${HOLD_TOTAL} calls were held after ${round((performance.now() - t0) / 1000, 1)} s; ${early.length} failed at the client (held per session where short: ${short.join(' ')})`,
        ...early.slice(0, 3),
      );
      log(arrival.join('\n  '));
    }
    await readLoopDelay(airlock, 'holding: calls arrive');
    await sleep(1000); // let the recheck timer and streams settle
    const held = await airlock.memory();
    const fdsHeld = openFds(airlock.pid!);

    await airlock.request({ op: 'loopDelay' }); // reset: the release is measured on its own
    const r0 = performance.now();
    let decided = 0;
    while (decided < pending) {
      const items = await reviewer.listPending(100);
      if (items.length === 0) {
        await sleep(20);
        continue;
      }
      await mapConcurrent(items, 8, (item) => reviewer.decide(item.id, 'approve'));
      decided += items.length;
    }
    const outcomes = await settled;
    const releaseAllMs = performance.now() - r0;
    const failures = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [`${expected[i]}: ${describeError(o.reason)}`] : []));
    await sleep(500);
    const after = await airlock.memory();
    const per = (a: number, b: number) => kib((b - a) / Math.max(1, pending));
    return {
      sessions: HOLD_SESSIONS,
      callsPerSession: HOLD_PER_SESSION,
      held: pending,
      holdAllMs: round(holdAllMs, 0),
      rssBeforeMiB: mib(before.rss),
      rssHeldMiB: mib(held.rss),
      rssAfterMiB: mib(after.rss),
      rssPerHeldKiB: per(before.rss, held.rss),
      heapPerHeldKiB: per(before.heapUsed, held.heapUsed),
      externalPerHeldKiB: per(before.external, held.external),
      fdsHeld,
      releaseAllMs: round(releaseAllMs, 0),
      completedCorrectly: HOLD_TOTAL - failures.length,
      failures: [...arrival, ...failures.slice(0, 3)],
    };
  } finally {
    await closeAll(sessions);
  }
}

/** One held call decided at once, outside any measurement. */
async function holdAndRelease(session: Session, reviewer: Reviewer, message: string): Promise<void> {
  const call = echo(session, message, 'echo_risky', 120_000);
  for (let i = 0; i < 600; i++) {
    const item = (await reviewer.listPending(500)).find((p) => (p.arguments as { message?: string }).message === message);
    if (item) {
      await reviewer.decide(item.id, 'approve');
      return call;
    }
    await sleep(20);
  }
  throw new Error(`${message} was never listed`);
}

// ─── machine, report ───────────────────────────────────────────────────────────

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function machine() {
  const commit = git(['rev-parse', 'HEAD']);
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    date: new Date().toISOString(),
    gitCommit: commit,
    // the benchmark's own output (bench/results) does not make the measured code differ from the commit
    gitDirty: commit ? (git(['status', '--porcelain', '--', ':/', ':(top,exclude)bench/results'])?.length ?? 0) > 0 : null,
  };
}

const cpuCells = (c: CpuPerCall) => [fmt(c.client, 0), fmt(c.server, 0), fmt(c.upstream, 0), fmt(c.database, 0)];
const fmt = (x: number | null | undefined, digits = 2) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits));
function table(title: string, head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [`\n${title}`, line(head), widths.map((w) => '─'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

// ─── main ──────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const started = performance.now();
  mkdirSync(resultsDir, { recursive: true });
  if (PROFILE) rmSync(profileDir, { recursive: true, force: true });
  if (PROFILE) mkdirSync(profileDir, { recursive: true });

  // PostgreSQL: a database of the benchmark's own, dropped at the end
  let pgUrl: string | undefined;
  let databasePids: (() => Promise<number[]>) | undefined;
  if (process.env.DATABASE_URL) {
    const name = `airlock_bench_${randomBytes(4).toString('hex')}`;
    const admin = connectPostgres(process.env.DATABASE_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    cleanups.push(async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end({ timeout: 5 });
    });
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${name}`;
    pgUrl = url.toString();
    databasePids = async () => (await admin<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${name}`).map((r) => r.pid);
  }

  const direct = directTarget();
  const withConsole = REVIEWER === 'http' || RUN_CONSOLE;
  if (CONSOLE_SKIPPED) log(`console phase skipped: ${CONSOLE_SKIPPED}`);
  if (RUN_CONSOLE && CONSOLE_BUILD === 'stale')
    log('console phase: the console build in .next is older than its sources; the figures are for that build (run `npx next build`)');
  const airlocks = [new AirlockTarget({ name: 'Airlock (PGlite)', console: withConsole })];
  if (pgUrl) {
    const pg = new AirlockTarget({ name: 'Airlock (PostgreSQL)', databaseUrl: pgUrl, console: withConsole });
    pg.databasePids = databasePids;
    airlocks.push(pg);
  }
  for (const a of airlocks) cleanups.push(() => a.stop());
  log(`starting mcp-proxy and ${airlocks.map((a) => a.name).join(', ')}`);
  const [proxy] = await Promise.all([mcpProxyTarget(), ...airlocks.map((a) => a.start())]);
  cleanups.push(() => proxy.stop());
  const targets: Target[] = [direct, proxy, ...airlocks];
  // throughput also through `shared: true`, which like mcp-proxy serves every session from one upstream
  const shared = airlocks.map((a) => a.sharedUpstream());

  const results: Record<string, unknown> = {};
  const latency = PHASES.has('latency') ? await latencyPhase(targets) : undefined;
  const throughput = PHASES.has('throughput') ? await throughputPhase([...targets, ...shared]) : undefined;
  const approval: Record<string, ApprovalResult> = {};
  const holding: Record<string, HoldingResult> = {};
  const consoleResults: Record<string, ConsoleResult> = {};
  for (const airlock of airlocks) {
    const reviewer = makeReviewer(REVIEWER, airlock);
    if (PHASES.has('approval')) approval[airlock.name] = await observed([airlock], 'approval', () => approvalPhase(airlock, reviewer));
    if (PHASES.has('holding')) holding[airlock.name] = await observed([airlock], 'holding: release', () => holdingPhase(airlock));
    // last: the requests it seeds stay pending until the process stops
    if (RUN_CONSOLE)
      consoleResults[airlock.name] = await observed([airlock], 'console', () =>
        consolePhase(airlock, reviewer, { seed: CONSOLE_SEED, calls: CONSOLE_CALLS, loads: CONSOLE_LOADS, log }),
      );
  }

  // ratios against mcp-proxy
  const ratios: Record<string, Record<string, number | null>> = {};
  for (const [i, airlock] of airlocks.entries()) {
    const l = latency?.[airlock.name];
    const p = latency?.[proxy.name];
    const t = throughput?.[airlock.name];
    const ts = throughput?.[shared[i].name];
    const tp = throughput?.[proxy.name];
    ratios[airlock.name] = {
      latencyP50: l && p ? round(l.p50 / p.p50, 2) : null,
      latencyP99: l && p ? round(l.p99 / p.p99, 2) : null,
      throughput: t && tp ? round(t.callsPerSec / tp.callsPerSec, 2) : null,
      throughputShared: ts && tp ? round(ts.callsPerSec / tp.callsPerSec, 2) : null,
    };
  }

  await cleanup();
  let profiles: Record<string, ProfileSummary & { file: string }> | undefined;
  if (PROFILE) {
    profiles = {};
    for (const { target, phase, file } of profileFiles)
      profiles[`${target} ${phase}`] = { ...summarizeProfile(file, 15), file: relative(process.cwd(), file) };
  }

  Object.assign(results, {
    machine: machine(),
    config: {
      quick: QUICK,
      sequentialCalls: CALLS,
      warmup: WARMUP,
      rounds: ROUNDS,
      throughputCalls: Math.ceil(TPUT_CALLS / TPUT_REPS / CLIENTS) * CLIENTS * TPUT_REPS,
      throughputWarmupPerSession: TPUT_WARMUP,
      clients: CLIENTS,
      approvals: APPROVALS,
      hold: { sessions: HOLD_SESSIONS, callsPerSession: HOLD_PER_SESSION },
      phases: [...PHASES],
      console: { seed: CONSOLE_SEED, calls: CONSOLE_CALLS, loads: CONSOLE_LOADS, skipped: CONSOLE_SKIPPED ?? null },
      upstream:
        'node bench/echo-server.mjs (stdio; Airlock: one process per MCP session, and one for all with `shared: true`; mcp-proxy shares one for all sessions)',
      consoleBuild: CONSOLE_BUILD,
      reviewer:
        REVIEWER === 'http'
          ? 'http: JSON API of the console with a personal API token; changes from NOTIFY relayed over IPC'
          : 'ipc: listRequests/decide called in the Airlock process; changes from NOTIFY relayed over IPC',
    },
    targets: TARGETS,
    latency,
    throughput,
    ratiosVsMcpProxy: ratios,
    approval,
    holding,
    console: consoleResults,
    eventLoopDelayMs: loopDelays,
    profiles,
    durationSec: round((performance.now() - started) / 1000, 1),
  });

  const out = resolve(resultsDir, 'latest.json');
  writeFileSync(`${out}.tmp`, `${JSON.stringify(results, null, 2)}\n`);
  renameSync(`${out}.tmp`, out);

  // ─── the readable table ───
  const m = results.machine as ReturnType<typeof machine>;
  const lines: string[] = [
    `Airlock benchmark  ${m.date}  ${m.cpu} x${m.cores}, ${m.memoryGiB} GiB, Node ${m.node}, commit ${m.gitCommit?.slice(0, 10) ?? '?'}${m.gitDirty ? ' (dirty tree)' : ''}`,
  ];
  if (latency) {
    lines.push(
      table(
        `Sequential tools/call latency, ms (${CALLS} calls per path, ${ROUNDS} interleaved rounds)`,
        ['path', 'p50', 'p90', 'p99', 'max', 'mean', 'CPU µs/call: client', 'server', 'upstream', 'PostgreSQL'],
        targets.map((t) => {
          const r = latency[t.name];
          return [t.name, fmt(r.p50), fmt(r.p90), fmt(r.p99), fmt(r.max), fmt(r.mean), ...cpuCells(r.cpuUsPerCall)];
        }),
      ),
    );
  }
  if (throughput) {
    lines.push(
      table(
        `Throughput, ${CLIENTS} concurrent clients (one MCP session each), ${(results.config as { throughputCalls: number }).throughputCalls} calls per path after ${TPUT_WARMUP} per session`,
        [
          'path',
          'calls/s',
          'reps calls/s',
          'p50 ms',
          'p99 ms',
          'CPU µs/call: client',
          'server',
          'upstream',
          'PostgreSQL',
          'session setup ms',
        ],
        [...targets, ...shared].map((t) => {
          const r = throughput[t.name];
          return [
            t.name,
            fmt(r.callsPerSec, 0),
            r.reps.map((x) => x.toFixed(0)).join('/'),
            fmt(r.latency.p50),
            fmt(r.latency.p99),
            ...cpuCells(r.cpuUsPerCall),
            fmt(r.sessionSetupMs, 0),
          ];
        }),
      ),
    );
  }
  if (latency || throughput) {
    lines.push(
      table(
        'Airlock / mcp-proxy (latency: ≤ 1.00 is the target; throughput: ≥ 1.00)',
        ['path', 'p50 latency', 'p99 latency', 'throughput', 'throughput, shared upstream'],
        airlocks.map((a) => [
          a.name,
          fmt(ratios[a.name].latencyP50),
          fmt(ratios[a.name].latencyP99),
          fmt(ratios[a.name].throughput),
          fmt(ratios[a.name].throughputShared),
        ]),
      ),
    );
  }
  if (Object.keys(approval).length > 0) {
    const rows: (string | number)[][] = [];
    for (const [name, r] of Object.entries(approval)) {
      rows.push([`${name}: call sent → listed`, fmt(r.sentToListed.p50), fmt(r.sentToListed.p99), fmt(r.sentToListed.max)]);
      rows.push(['   of which call sent → NOTIFY', fmt(r.sentToNotify.p50), fmt(r.sentToNotify.p99), fmt(r.sentToNotify.max)]);
      rows.push([
        `${name}: decision → result at agent`,
        fmt(r.decisionToResult.p50),
        fmt(r.decisionToResult.p99),
        fmt(r.decisionToResult.max),
      ]);
      rows.push(['   of which decide() round trip', fmt(r.decideRoundTrip.p50), fmt(r.decideRoundTrip.p99), fmt(r.decideRoundTrip.max)]);
      rows.push(['   of which decided → result', fmt(r.decidedToResult.p50), fmt(r.decidedToResult.p99), fmt(r.decidedToResult.max)]);
    }
    const first = Object.values(approval)[0];
    lines.push(
      table(
        `Approval loop, ms (${first.calls} held calls one at a time, reviewer over ${first.reviewer}; target p50 ≤ ${TARGETS.latencyP50}, p99 ≤ ${TARGETS.latencyP99})`,
        ['', 'p50', 'p99', 'max'],
        rows,
      ),
    );
  }
  if (Object.keys(holding).length > 0) {
    lines.push(
      table(
        `Holding ${HOLD_TOTAL} concurrent calls (${HOLD_SESSIONS} sessions x ${HOLD_PER_SESSION} calls; released by decide() in-process, 8 at a time; target ≤ ${TARGETS.holdKiB} KiB per held call)`,
        ['path', 'RSS KiB/call', 'heap KiB/call', 'RSS before→held→after MiB', 'all held in ms', 'released in ms', 'correct', 'open fds'],
        Object.entries(holding).map(([name, r]) => [
          name,
          fmt(r.rssPerHeldKiB, 1),
          fmt(r.heapPerHeldKiB, 1),
          `${fmt(r.rssBeforeMiB, 0)}→${fmt(r.rssHeldMiB, 0)}→${fmt(r.rssAfterMiB, 0)}`,
          fmt(r.holdAllMs, 0),
          fmt(r.releaseAllMs, 0),
          `${r.completedCorrectly}/${r.sessions * r.callsPerSession}`,
          r.fdsHeld,
        ]),
      ),
    );
    for (const [name, r] of Object.entries(holding)) if (r.failures.length) lines.push(`  ${name} failures: ${r.failures.join('; ')}`);
  }
  if (Object.keys(consoleResults).length > 0) lines.push(...consoleTables(consoleResults));
  if (CONSOLE_SKIPPED) lines.push(`\nConsole phase skipped: ${CONSOLE_SKIPPED}.`);
  if (Object.keys(loopDelays).length > 0) {
    const phases = [...new Set(Object.values(loopDelays).flatMap((p) => Object.keys(p)))];
    lines.push(
      table(
        'Event-loop delay of the Airlock process, ms (p99 / max): how long a new connection, a timer or a reply can wait',
        ['path', ...phases],
        Object.entries(loopDelays).map(([name, byPhase]) => [
          name,
          ...phases.map((ph) => (byPhase[ph] ? `${fmt(byPhase[ph].p99, 0)} / ${fmt(byPhase[ph].max, 0)}` : '–')),
        ]),
      ),
    );
  }
  if (profiles) {
    for (const [name, p] of Object.entries(profiles)) {
      lines.push(
        table(
          `CPU profile, ${name}: top self time (${fmt(p.totalMs / 1000, 1)} s sampled, ${fmt(p.idlePct, 0)}% idle; % of busy time) — ${p.file}`,
          ['function', 'self ms', 'self %', 'location'],
          p.top.map((f) => [f.name.slice(0, 40), fmt(f.selfMs, 0), fmt(f.selfPct, 1), f.location]),
        ),
        `  by package: ${p.byPackage
          .slice(0, 8)
          .map((b) => `${b.name} ${fmt(b.selfPct, 1)}%`)
          .join(', ')}`,
      );
    }
  }
  lines.push(`\nUpstream: ${(results.config as { upstream: string }).upstream}.`);
  lines.push(`Reviewer: ${(results.config as { reviewer: string }).reviewer}.`);
  if (REVIEWER === 'ipc' && !process.env.BENCH_REVIEWER) {
    lines.push(`  (the console build is ${CONSOLE_BUILD}: run \`npx next build\` first to measure the approval loop through the JSON API)`);
  }
  lines.push(
    `Results written to ${relative(process.cwd(), out)} (${round((performance.now() - started) / 1000, 1)} s)${PROFILE ? `; CPU profiles in ${relative(process.cwd(), profileDir)} (summarize one with: npx tsx bench/profile-summary.ts <file>)` : ''}`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

function consoleTables(results: Record<string, ConsoleResult>): string[] {
  const out: string[] = [];
  const stale = CONSOLE_BUILD === 'stale' ? ' — console build OLDER than its sources' : '';
  for (const [name, r] of Object.entries(results)) {
    const f = r.firstPage;
    const row = (label: string, s: Summary, cold: number | null | undefined) => [label, fmt(s.p50, 0), fmt(s.max, 0), fmt(cold, 0)];
    out.push(
      table(
        `Console, ${name}: first page with ${f.pending} pending, ms from navigation start (${f.loads} loads: a fresh context, then reloads; ${r.browser}${stale}; target visible < ${TARGETS.consoleFirstPageMs})`,
        ['', 'p50', 'max', 'first load'],
        [
          row('first row and count visible', f.visible, f.cold.visible),
          row('   HTML first byte (server render)', f.ttfb, f.cold.ttfb),
          row('   first contentful paint', f.fcp, f.cold.fcp),
          row('   largest contentful paint', f.lcp, f.cold.lcp),
          row('   DOMContentLoaded', f.domContentLoaded, f.cold.domContentLoaded),
          row('socket live (hydrated, following events)', f.live, f.cold.live),
        ],
      ),
      `  ${f.cold.items} rows shown of ${f.cold.total} (HTML ${fmt(f.cold.htmlKiB, 0)} KiB); ${r.seeded.seeded} seeded in ${fmt(r.seeded.ms, 0)} ms`,
    );
    const rows: (string | number)[][] = [];
    for (const l of r.live) {
      const line = (label: string, s: Summary) => [label, '', fmt(s.p50), fmt(s.p99), fmt(s.max)];
      rows.push([
        `${l.queue} (${l.path}): call sent → in DOM`,
        `${l.shown}/${l.calls}`,
        fmt(l.sentToDom.p50),
        fmt(l.sentToDom.p99),
        fmt(l.sentToDom.max),
      ]);
      rows.push(line('   of which call sent → NOTIFY', l.sentToNotify));
      rows.push(line('   of which NOTIFY → socket.io message at the page', l.notifyToSocket));
      rows.push(line('   of which socket.io message → in DOM', l.socketToDom));
      rows.push(line('   in DOM → next frame', l.domToFrame));
      rows.push(line('   call sent → count badge updated', l.sentToCount));
      rows.push(line('   decision sent → gone from DOM', l.decisionToGone));
      if (l.gaveUp) rows.push([`   ${l.gaveUp}`, '', '', '', '']);
    }
    const clocks = r.live.map((l) => `${fmt(l.clock.offsetMs, 1)} ± ${fmt(l.clock.uncertaintyMs, 1)}`).join(', ');
    out.push(
      table(
        `Console, ${name}: a held call reaching the open queue page, ms (held calls one at a time, each denied by the reviewer over ${r.reviewer}; target call sent → in DOM p50 < ${TARGETS.consoleCallToDomP50Ms})`,
        ['', 'shown', 'p50', 'p99', 'max'],
        rows,
      ),
      `  page clock offset (ms, subtracted): ${clocks}`,
    );
    if (r.pageErrors.length) out.push(`  page errors: ${r.pageErrors.join('; ')}`);
  }
  return out;
}

main()
  .then(async () => {
    await cleanup();
    removeLogs();
  })
  .catch(async (error) => {
    // after Ctrl-C the children exit under the phase that was running: not worth a stack trace
    if (!interrupted) console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    await cleanup();
    process.exitCode = 1;
  })
  .finally(() => {
    // open handles (undici keep-alive sockets) must not keep the run alive
    setTimeout(() => process.exit(), 200).unref();
  });
