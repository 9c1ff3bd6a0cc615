import type { ChildProcess } from 'node:child_process';

/** What a finished child process said and how it ended. */
export type Run = { code: number | null; stdout: string; stderr: string };

/** Collect a child's stdout and stderr (spawned with both piped) until it closes. */
export function outputOf(child: ChildProcess): Promise<Run> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}
