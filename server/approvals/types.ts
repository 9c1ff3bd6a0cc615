import { z } from 'zod';
import type { approvalRequests, Role } from '../../db/schema';

export type ApprovalRequest = typeof approvalRequests.$inferSelect;

/** The person deciding, as authenticated; role and status are re-read from the database (invariant 4). */
export type Reviewer = { id: string; email?: string; role?: Role };

export const ZDecision = z
  .object({
    decision: z.enum(['approve', 'deny']),
    reason: z.string().trim().max(2000).optional(),
  })
  .strict();
export type DecisionInput = z.infer<typeof ZDecision>;

/** Terminal outcome delivered to the process holding the call. */
export type Outcome = Pick<
  ApprovalRequest,
  'id' | 'status' | 'reason' | 'decidedBy' | 'approvedArguments' | 'approvedArgumentsDigest' | 'argumentsDigest'
> & { decidedByEmail?: string | null };

/** NOTIFY channel carrying `{ id, status }` whenever a request is created or changes. */
export const APPROVALS_CHANNEL = 'airlock_approvals';
