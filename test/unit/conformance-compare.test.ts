import { describe, expect, it } from 'vitest';
import { type CheckStatus, type ConformanceRun, compareRuns } from '../conformance/run';

/** A run of one scenario whose checks have these statuses. */
function run(url: string, checks: Record<string, CheckStatus>): ConformanceRun {
  const list = Object.entries(checks).map(([id, status]) => ({ id, name: id, description: id, status }));
  const count = (status: CheckStatus) => list.filter((check) => check.status === status).length;
  return {
    url,
    exitCode: 0,
    durationMs: 0,
    resultDir: '',
    stdout: '',
    stderr: '',
    scenarios: [
      {
        scenario: 'streams',
        passed: count('FAILURE') === 0,
        counts: { SUCCESS: count('SUCCESS'), FAILURE: count('FAILURE'), WARNING: count('WARNING'), INFO: count('INFO') },
        problems: [],
        checks: list,
      },
    ],
  };
}

describe('compareRuns', () => {
  const direct = run('direct', { accepts: 'SUCCESS', functional: 'SUCCESS' });
  const optional = { functional: 'SSE is optional' };

  it('counts a check that succeeded directly and is only INFO through the gateway as a difference', () => {
    expect(compareRuns(direct, run('gated', { accepts: 'SUCCESS', functional: 'INFO' }))).toHaveLength(1);
  });

  it('accepts that difference for a check named optional, and only that one', () => {
    expect(compareRuns(direct, run('gated', { accepts: 'SUCCESS', functional: 'INFO' }), optional)).toEqual([]);
    expect(compareRuns(direct, run('gated', { accepts: 'INFO', functional: 'INFO' }), optional)).toHaveLength(1);
  });

  it('still counts a failure or a warning of an optional check', () => {
    expect(compareRuns(direct, run('gated', { accepts: 'SUCCESS', functional: 'FAILURE' }), optional)).toHaveLength(1);
    expect(compareRuns(direct, run('gated', { accepts: 'SUCCESS', functional: 'WARNING' }), optional)).toHaveLength(1);
  });
});
