import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { claimExecution, createRequest } from '../approvals/lifecycle';
import type { ApprovalRequest, Outcome } from '../approvals/types';
import { digest, NotCanonicalError } from '../lib/digest';
import { log } from '../lib/log';
import type { Verdict } from '../policy/types';
import { type JSONRPCRequest, progressToken, refusal } from './messages';
import type { GatewaySession } from './session';

/**
 * Hold a tools/call until a person decides (see ARCHITECTURE "Holding a call"): persist a
 * pending approval request first, keep the client's timeout alive with progress, then
 * forward exactly what was approved, or answer with the refusal. Fail closed throughout.
 */
export async function holdCall(
  session: GatewaySession,
  request: JSONRPCRequest,
  tool: Tool,
  verdict: Verdict,
  callId: string,
): Promise<void> {
  const { context } = session;
  const args = (request.params as { arguments?: unknown }).arguments ?? {};
  let approval: ApprovalRequest;
  try {
    approval = await createRequest(context.database, {
      agentId: session.agent.id,
      sessionId: session.sessionId ?? '',
      rpcId: request.id,
      callId,
      upstream: session.upstreamName,
      tool: tool.name,
      arguments: args,
      toolDefinition: tool,
      verdict,
      holder: context.instanceId,
    });
  } catch (error) {
    if (error instanceof NotCanonicalError) {
      // invariant 2: an approval binds the definition's digest (the arguments' was made on arrival); without one, no approval
      const reason = `the definition of tool ${tool.name} is ${error.message}`;
      const recorded = await session.recordRefusal(tool.name, reason, callId);
      return session.reply(
        refusal(
          request.id,
          recorded
            ? `Airlock cannot hold this call for approval: ${reason}. It was not executed.`
            : 'Airlock could not record this call in its audit log, so it was not executed.',
        ),
      );
    }
    log.error('gateway: cannot record an approval request; call refused', { error: String(error) });
    return session.reply(
      refusal(request.id, 'Airlock could not record an approval request for this call, so it was not executed. Try again later.'),
    );
  }

  const reviewUrl = `${context.publicUrl}/approvals/${approval.id}`;
  const minutes = Math.max(1, Math.round(verdict.timeoutSeconds / 60));
  const waiting = `The call to ${tool.name} awaits human approval in Airlock (up to ${minutes} min): ${reviewUrl}`;

  let cancelReason = '';
  let cancel!: (reason: string) => void;
  const cancelled = new Promise<'cancelled'>((resolve) => {
    cancel = (reason) => {
      cancelReason = reason;
      resolve('cancelled');
    };
  });
  // a cancellation that came while the request was being recorded takes effect here, at once
  const untrack = session.onCancel(request.id, cancel);

  // MCP clients time out (60 s in the TypeScript SDK) unless progress resets the clock
  const token = progressToken(request);
  let progress = 0;
  const sendProgress = () =>
    void session.toDownstream(
      {
        jsonrpc: '2.0',
        method: 'notifications/progress',
        params: { progressToken: token as string | number, progress: ++progress, message: waiting },
      },
      request.id,
    );
  const timer = token === undefined ? undefined : setInterval(sendProgress, context.progressIntervalMs);
  if (token !== undefined) sendProgress();
  if (session.serverCapabilities.logging) {
    void session.toDownstream(
      { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'notice', logger: 'airlock', data: waiting } },
      request.id,
    );
  }

  // an approved call's tool list is re-read before it runs (invariant 2): that starts as soon as
  // the decision is announced, while the outcome itself is read from the database
  const announced = (status: string) => {
    // awaited (and its error handled) by executeApproved, if the call goes ahead
    if (status === 'approved') session.tools.refresh(DRIFT_CHECK_MAX_AGE_MS).catch(() => {});
  };
  let outcome: Outcome | 'cancelled';
  try {
    outcome = await Promise.race([context.holds.wait(approval.id, approval.expiresAt, announced), cancelled]);
  } finally {
    clearInterval(timer);
    untrack();
  }

  if (outcome === 'cancelled') {
    // the request is not held any more, so even if this update fails it can never run (and it is retried)
    const closed = await context.holds
      .cancel({ id: approval.id, reason: cancelReason, actor: { type: 'agent', id: session.agent.id }, expiresAt: approval.expiresAt })
      .catch((error) => {
        log.warn('gateway: could not mark a request cancelled; retrying', { id: approval.id, error: String(error) });
        return false;
      });
    // decided meanwhile (or not updated): the call's own cancellation event records why it did not run
    if (!closed) return session.endCancelled(request.id, { tool: approval.tool, callId, approvalId: approval.id });
    // MCP: a call the agent cancelled gets no response; one cancelled by the session's end is refused, now
    return session.endCall(request.id);
  }

  const meta = { status: outcome.status, approvalRequestId: approval.id };
  switch (outcome.status) {
    case 'approved':
      return executeApproved(session, request, approval, outcome, { callId, progressSent: progress });
    case 'denied': {
      // who denied stays in the console and the audit log: the agent may be the one under an attacker's control
      const why = outcome.reason ? `: ${outcome.reason}` : ' without giving a reason';
      return session.reply(
        refusal(request.id, `A reviewer denied this call${why}. It was not executed; do not retry it unchanged.`, {
          ...meta,
          reason: outcome.reason,
        }),
      );
    }
    case 'expired':
      return session.reply(
        refusal(request.id, `No reviewer decided within ${minutes} min, so the call expired and was not executed.`, meta),
      );
    default:
      return session.reply(
        refusal(
          request.id,
          `The approval request was ${outcome.status}${outcome.reason ? `: ${outcome.reason}` : ''}. The call was not executed.`,
          meta,
        ),
      );
  }
}

/**
 * How long before an approved call runs its tool list may have been read (the read begun when
 * the approval was announced) to serve the drift check; an older one is read again.
 */
const DRIFT_CHECK_MAX_AGE_MS = 100;

/** invariant 2 and 3: forward exactly the approved call, once, and only if nothing drifted. */
async function executeApproved(
  session: GatewaySession,
  request: JSONRPCRequest,
  approval: ApprovalRequest,
  outcome: Outcome,
  { callId, progressSent }: { callId: string; progressSent: number },
): Promise<void> {
  const { context } = session;
  const refuse = async (reason: string, type: string) => {
    const recorded = await context.audit
      .record({ type, actor: { type: 'system' }, requestId: approval.id, payload: { callId, reason } })
      .then(
        () => true,
        (error) => {
          log.error('gateway: audit failed', { error: String(error) });
          return false;
        },
      );
    // invariant 5: no refusal's reason is visible before its audit row; without one, only that nothing ran
    const text = recorded
      ? `${reason} The call was not executed.`
      : 'Airlock could not record this call in its audit log, so it was not executed.';
    return session.reply(refusal(request.id, text, { status: 'refused', approvalRequestId: approval.id }));
  };

  const original = (request.params as { arguments?: unknown }).arguments ?? {};
  const approvedArguments = outcome.approvedArguments ?? original;
  if (digest(original) !== approval.argumentsDigest)
    return refuse('The held arguments no longer match the approval request.', 'tool.binding_refused');
  if (!outcome.approvedArgumentsDigest || digest(approvedArguments) !== outcome.approvedArgumentsDigest) {
    return refuse('The approved arguments do not match their recorded digest.', 'tool.binding_refused');
  }
  const edited = outcome.approvedArgumentsDigest !== approval.argumentsDigest;

  // the tool's definition must still be the one the reviewer saw
  let current: Tool | undefined;
  try {
    // a read begun long ago (the outcome was slow to read) is too old to vouch for the definition
    await session.tools.refresh(DRIFT_CHECK_MAX_AGE_MS);
    current = await session.tools.find(approval.tool);
  } catch (error) {
    return refuse(`Airlock could not re-read the tool list (${(error as Error).message}).`, 'tool.binding_refused');
  }
  if (!current || digest(current) !== approval.toolDefinitionHash) {
    return refuse(`The definition of tool ${approval.tool} changed while the call awaited approval.`, 'tool.drift_refused');
  }

  if (session.cancelled(request.id)) {
    // cancelled between the decision and now: not claimed, not run
    return session.endCancelled(request.id, { tool: approval.tool, callId, approvalId: approval.id });
  }
  let claimed: boolean;
  try {
    claimed = await claimExecution(context.database, {
      id: approval.id,
      argumentsDigest: outcome.approvedArgumentsDigest,
      agentId: session.agent.id,
      callId,
    });
  } catch (error) {
    log.error('gateway: cannot claim execution; call refused', { error: String(error) });
    return session.reply(
      refusal(request.id, 'Airlock could not record the execution of this approved call, so it was not executed. Try again later.'),
    );
  }
  if (!claimed)
    return session.reply(refusal(request.id, 'This approval was already used or is no longer valid. The call was not executed.'));

  const forwarded: JSONRPCRequest = edited
    ? { ...request, params: { ...request.params, arguments: approvedArguments as Record<string, unknown> } }
    : request;
  await session.forward(forwarded, { tool: approval.tool, callId, approvalId: approval.id, edited, progressBase: progressSent });
}
