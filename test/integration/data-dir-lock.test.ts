import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { root } from '../helpers/airlock';

const child = join(root, 'test/fixtures/lock-child.ts');
const base = mkdtempSync(join(tmpdir(), 'airlock-lock-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

/**
 * Two processes that take the lock of `dir` at the same moment: what each printed. A process
 * that got the lock keeps it until both have answered (its stdin ends), so one that comes late
 * still meets a live holder and not a released lock.
 */
async function race(dir: string, at: number): Promise<string[]> {
  const racers = [0, 1].map(() => spawn(process.execPath, ['--import', 'tsx', child, dir, String(at)], { cwd: root }));
  const closed = racers.map((racer) => new Promise((resolve) => racer.on('close', resolve)));
  const printed = await Promise.all(
    racers.map(
      (racer) =>
        new Promise<string>((resolve) => {
          let out = '';
          racer.stdout.on('data', (chunk) => {
            out += chunk;
            resolve(out);
          });
          racer.on('close', () => resolve(out));
        }),
    ),
  );
  for (const racer of racers) racer.stdin.end();
  await Promise.all(closed);
  return printed;
}

/** A pid no process has now: one that just exited. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

describe('the embedded database’s data directory lock', () => {
  it.each(['a new data directory', 'a lock left by a process that died'])(
    'is taken by exactly one of two processes starting together, on %s',
    async (kind) => {
      const rounds = 24;
      const outcomes: string[][] = [];
      for (let batch = 0; batch < rounds; batch += 6) {
        const at = Date.now() + 2500;
        const dirs = Array.from({ length: 6 }, (_, i) => join(base, `${kind.length}-${batch + i}`));
        if (kind.startsWith('a lock')) {
          const dead = String(deadPid());
          for (const dir of dirs) {
            mkdirSync(dir, { recursive: true });
            writeFileSync(join(dir, 'airlock.pid'), dead);
          }
        }
        outcomes.push(...(await Promise.all(dirs.map((dir) => race(dir, at)))));
      }
      for (const outcome of outcomes) expect(outcome.sort()).toEqual(['locked', 'refused']);
    },
    120_000,
  );
});
