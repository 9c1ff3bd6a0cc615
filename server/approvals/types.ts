import { z } from 'zod';
import type { approvalRequests, Role } from '../../db/schema';

export type ApprovalRequest = typeof approvalRequests.$inferSelect;

/**
 * The person deciding, as authenticated; role and status are re-read from the database
 * (invariant 4). `tokenId` when through a personal API token (recorded with the vote).
 */
export type Reviewer = { id: string; email?: string; role?: Role; tokenId?: string };

export const ZDecision = z
  .object({
    decision: z.enum(['approve', 'deny']),
    /** Sent back to the agent on deny; recorded either way. */
    reason: z.string().trim().max(2000).optional(),
    /** Approve these arguments instead of the agent's (where the rule allows editing). */
    arguments: z.record(z.string(), z.unknown()).optional(),
    /** Also allow matching calls in this MCP session for this many minutes (where the rule allows grants). */
    grantMinutes: z
      .number()
      .int()
      .min(1)
      .max(24 * 60)
      .optional(),
  })
  .strict()
  .refine((d) => d.decision === 'approve' || (d.arguments === undefined && d.grantMinutes === undefined), {
    message: 'edited arguments and grants go with an approval only',
  });
export type DecisionInput = z.infer<typeof ZDecision>;

/** Terminal outcome delivered to the process holding the call. */
export type Outcome = Pick<
  ApprovalRequest,
  'id' | 'status' | 'reason' | 'decidedBy' | 'approvedArguments' | 'approvedArgumentsDigest' | 'argumentsDigest'
>;

/** The rule snapshot stored with each request. */
export type RuleSnapshot = { id: string; reason?: string; timeoutSeconds?: number; allowEdit?: boolean; maxGrantMinutes?: number };

/** NOTIFY channel carrying `{ id, status }` whenever a request is created or changes. */
export const APPROVALS_CHANNEL = 'airlock_approvals';

const ZApprovalNotice = z.object({ id: z.string().min(1), status: z.string().min(1) });
export type ApprovalNotice = z.infer<typeof ZApprovalNotice>;

/**
 * A payload heard on APPROVALS_CHANNEL, or null when it is not one: anyone with access to the
 * database can NOTIFY, and a listener must drop what it cannot read rather than throw.
 */
export function parseApprovalNotice(payload: string): ApprovalNotice | null {
  try {
    const parsed = ZApprovalNotice.safeParse(JSON.parse(payload));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
