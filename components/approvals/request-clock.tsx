'use client';

import { Countdown, useNow } from '@/components/queue/time';

/** Time left and the N-of-M approval progress of a pending request. */
export function RequestClock({ expiresAt, approvals, required }: { expiresAt: string; approvals: number; required: number }) {
  const now = useNow();
  return (
    <p className="row request-clock">
      <Countdown expiresAt={expiresAt} now={now} />
      <span>
        {approvals} of {required} approval{required > 1 ? 's' : ''}
      </span>
      {required > 1 ? <progress max={required} value={approvals} aria-label="Approvals so far" /> : null}
    </p>
  );
}
