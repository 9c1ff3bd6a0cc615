/**
 * Invariant 5 across a crash: a call reaches its upstream only once its audit row is on disk.
 * Airlock runs on PGlite in a child process (PGlite lives inside Airlock's process: whatever it
 * has not written out dies with it), is killed with SIGKILL while the upstream holds a call, and
 * its data directory is opened again. PostgreSQL keeps what it committed when Airlock dies, so
 * this test has no PostgreSQL variant.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/client';
import { auditEvents } from '../../db/schema';
import { verifyAudit } from '../../server/audit/verify';
import { detectDeathSignal } from '../../server/gateway/upstream';
import { eventually, readJsonLines, root } from '../helpers/airlock';

type LogEntry = { pid: number; event: string; tag?: string };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('an Airlock killed while the upstream runs a call (PGlite on disk)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-crash-'));
  const dataDir = join(dir, 'data');
  const upstreamLog = join(dir, 'upstream.jsonl');
  let child: ChildProcess | undefined;

  afterAll(() => {
    child?.kill('SIGKILL');
    // the upstream outlives its killed parent until its pending answer meets a closed pipe
    for (const { pid } of readJsonLines<LogEntry>(upstreamLog).filter((e) => e.event === 'start')) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('has the call’s audit row on disk before the upstream got the call', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/fixtures/airlock-process.ts'), dataDir, upstreamLog], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: '', AIRLOCK_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(createInterface({ input: child.stdout as NodeJS.ReadableStream }), 'line')) as [string];
    const { url, token } = JSON.parse(line) as { url: string; token: string };

    const client = new Client({ name: 'crash-agent', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${url}/mcp/slow`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }),
    );
    const call = client.callTool({ name: 'echo', arguments: { tag: 'in flight', delay: 60_000 } }).catch(() => 'ended');
    await eventually(() => readJsonLines<LogEntry>(upstreamLog).some((e) => e.event === 'call' && e.tag === 'in flight'));
    child.kill('SIGKILL');
    await once(child, 'exit');
    // the upstream, its call pending for a minute, dies with Airlock where setpriv can see to it
    // (Linux with util-linux): no upstream outlives a killed Airlock
    if (await detectDeathSignal()) {
      const started = readJsonLines<LogEntry>(upstreamLog).filter((e) => e.event === 'start');
      expect(started.length).toBeGreaterThan(0);
      await eventually(() => started.every(({ pid }) => !alive(pid)), 5000);
    }
    // the agent never gets a result. Its request ends now: once the response's headers are out (they
    // are, if the kill comes after the gateway's short wait for an answer), the SDK client only
    // reports the broken stream and would wait for its 60 s request timeout
    await client.close().catch(() => {});
    expect(await call).toBe('ended');

    const database = await openDatabase({ dataDir });
    try {
      const rows = await database.orm.select().from(auditEvents).where(eq(auditEvents.type, 'tool.allowed'));
      expect(rows.map((row) => (row.payload as { tool?: string }).tool)).toEqual(['echo']);
      expect(await verifyAudit(database.orm)).toMatchObject({ ok: true });
    } finally {
      await database.close();
    }
  });
});
