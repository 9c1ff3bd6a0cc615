import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const sources = ['app', 'components', 'server', 'public', 'next.config.js', 'package-lock.json'];

function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((max, name) => Math.max(max, newest(join(path, name))), stat.mtimeMs);
}

/** Whether `.next` holds a production build at least as new as the console's sources (the bench asks too). */
export function consoleBuildState(): 'fresh' | 'stale' | 'missing' {
  const buildId = join(root, '.next', 'BUILD_ID');
  if (!existsSync(buildId)) return 'missing';
  return statSync(buildId).mtimeMs > Math.max(...sources.map((s) => newest(join(root, s)))) ? 'fresh' : 'stale';
}

const fresh = () => consoleBuildState() === 'fresh';

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Tests that serve the console need a production build of the current sources: build once
 * if stale. Test workers run in parallel, so a lock directory lets one build while others wait.
 */
export function ensureConsoleBuild(): void {
  if (fresh()) return;
  const lock = join(root, '.next-build-lock');
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // another worker builds; a lock older than 10 minutes is left over from a killed run
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 600_000) rmSync(lock, { recursive: true, force: true });
      sleep(500);
    }
  }
  try {
    if (fresh()) return;
    process.stderr.write('building the console for the tests (next build)…\n');
    execFileSync(process.execPath, [join(root, 'node_modules/next/dist/bin/next'), 'build'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
    });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
