import { DrizzleQueryError } from 'drizzle-orm/errors';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { log } from '../../server/lib/log';

describe('log', () => {
  afterEach(() => vi.restoreAllMocks());

  /** What one log call writes to stderr. */
  const written = (write: () => void) => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    write();
    return lines.join('');
  };

  it('withholds the bound values of a failed statement, however the error is written', () => {
    const error = new DrizzleQueryError(
      'insert into "approval_requests" ("rpc_id", "arguments") values ($1, $2)',
      ['a\u0000b', { api_key: 'sk_live_SECRET' }],
      new Error('invalid byte sequence for encoding "UTF8": 0x00'),
    );
    for (const fields of [{ error: String(error) }, { error: error.stack }, { nested: { error: error.message } }]) {
      const line = written(() => log.error('gateway: cannot record an approval request', fields));
      expect(line).not.toContain('sk_live_SECRET');
      expect(line).toContain('insert into \\"approval_requests\\"');
      expect(line).toContain('params: (withheld from the log)');
    }
    expect(written(() => log.warn(error.message))).not.toContain('sk_live_SECRET');
  });

  it('leaves other text as it is', () => {
    expect(written(() => log.warn('upstream said', { reason: 'params: a, b' }))).toContain('"reason":"params: a, b"');
  });
});
