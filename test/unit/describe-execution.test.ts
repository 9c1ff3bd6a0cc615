import { describe, expect, it } from 'vitest';
import { describeExecution } from '../../server/approvals/queries';

const at = new Date('2026-12-01T10:00:00Z');

describe('describeExecution', () => {
  it.each([
    ['not claimed, no end', null, undefined, 'not_run', 'not (yet): the agent may have gone, or the binding check refused it'],
    ['claimed, no end yet', at, undefined, 'sent', 'sent once; its answer is not recorded yet'],
    ['answered', at, { type: 'tool.result', payload: { ok: true, isError: false } }, 'ran', 'yes, once: the upstream answered'],
    ['tool error', at, { type: 'tool.result', payload: { ok: true, isError: true } }, 'ran', 'yes, once: the tool reported an error'],
    ['JSON-RPC error', at, { type: 'tool.result', payload: { ok: false } }, 'ran', 'yes, once: the upstream answered with an error'],
    [
      'answered after the agent gave up',
      at,
      { type: 'tool.result', payload: { ok: true, abandoned: true } },
      'ran',
      'yes, once: the upstream answered; the agent had given up on it, so the result was not relayed',
    ],
    [
      'interrupted',
      at,
      { type: 'tool.interrupted', payload: { reason: 'upstream demo closed' } },
      'sent',
      'sent once, and no answer came back: upstream demo closed',
    ],
    [
      'cancelled as it was sent',
      at,
      { type: 'tool.cancelled', payload: { approvalUsed: true, reason: 'x' } },
      'not_run',
      'no: the agent cancelled it as it was being sent; the approval is used up',
    ],
    [
      'cancelled before its claim',
      null,
      { type: 'tool.cancelled', payload: { reason: 'the agent cancelled the call' } },
      'not_run',
      'no: cancelled before it was sent: the agent cancelled the call',
    ],
    [
      'refused at execution',
      null,
      { type: 'tool.binding_refused', payload: { reason: 'The held arguments no longer match the approval request.' } },
      'not_run',
      'no: refused when it was to run: The held arguments no longer match the approval request.',
    ],
  ] as const)('%s', (_, executedAt, end, state, text) => {
    expect(describeExecution(executedAt, end)).toEqual({ state, text });
  });
});
