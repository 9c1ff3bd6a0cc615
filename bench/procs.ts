/**
 * Child processes of the benchmark: started in their own process group so that stopping
 * one also stops what it spawned (upstream echo servers), tracked so that every exit path
 * of the parent (normal end, exception, Ctrl-C, SIGTERM) kills what is left.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const children = new Set<ChildProcess>();
const logs = new Set<string>();
let hooked = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // the whole group: the child and its upstream processes
  } catch {
    try {
      child.kill(signal);
    } catch {}
  }
}

/** Kill every child still running, synchronously (usable from an 'exit' handler). */
export function killAll(): void {
  for (const child of children) killGroup(child, 'SIGKILL');
  children.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  // the last resort on every exit path; signals are turned into a clean exit by bench/run.ts
  process.on('exit', killAll);
}

/** Where a child's stdout/stderr go, so a failure can be diagnosed without cluttering the table. */
export function logPath(name: string): string {
  return join(tmpdir(), `airlock-bench-${process.pid}-${name}.log`);
}

function track(child: ChildProcess, name: string): ChildProcess {
  hookExit();
  children.add(child);
  child.once('exit', () => children.delete(child));
  logs.add(logPath(name));
  const log = createWriteStream(logPath(name));
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

export function spawnTracked(name: string, command: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  return track(child, name);
}

export function forkTracked(name: string, module: string, execArgv: string[], env: Record<string, string> = {}): ChildProcess {
  const child = fork(module, [], { detached: true, execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, ...env } });
  return track(child, name);
}

/** Delete the children's logs (after a successful run; a failed one keeps them for diagnosis). */
export function removeLogs(): void {
  for (const path of logs) rmSync(path, { force: true });
  logs.clear();
}

/** Stop a child gracefully (SIGTERM to its group), then SIGKILL after `graceMs`. */
export async function stop(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  // the group may still hold grandchildren if the child died first
  try {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  } catch {}
}

/** An ephemeral port for a program that cannot report the one it got (mcp-proxy's CLI). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Wait until an HTTP server answers anything at `url`. */
export async function waitForHttp(url: string, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited with code ${child.exitCode} before listening`);
    try {
      await fetch(url, { method: 'GET', signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`no HTTP server at ${url} after ${timeoutMs} ms`);
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** CPU time (user + system, ms) a process has used so far, from /proc/<pid>/stat. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime 15
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

/** Every descendant of a process (children of all its threads, recursively). */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number) => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const tid of tasks) {
      let text = '';
      try {
        text = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {}
      for (const child of text.split(' ').filter(Boolean).map(Number)) {
        out.push(child);
        visit(child);
      }
    }
  };
  visit(pid);
  return out;
}

/** CPU time (ms) of several processes; one that has exited counts as zero. */
export function cpuMsOf(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += cpuMs(pid);
    } catch {}
  }
  return total;
}
