import { randomUUID } from 'node:crypto';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { findGrants } from '../approvals/grants';
import { maskArguments } from '../approvals/masking';
import type { AuditInput } from '../audit/append';
import type { UpstreamConfig } from '../config/schema';
import { digest, sha256 } from '../lib/digest';
import { log } from '../lib/log';
import { evaluate } from '../policy/evaluate';
import type { Verdict } from '../policy/types';
import type { AgentIdentity, GatewayContext } from './context';
import { DownstreamTransport } from './downstream';
import { holdCall } from './hold';
import {
  ErrorCode,
  errorResponse,
  isNotification,
  isRequest,
  isResponse,
  isResult,
  type JSONRPCMessage,
  type JSONRPCRequest,
  progressToken,
  type RequestId,
  refusal,
} from './messages';
import { ToolCatalog } from './tools';
import { upstreamTransport } from './upstream';

/** A downstream request forwarded upstream and not yet answered. */
type InFlight = {
  method: string;
  progressToken?: string | number;
  /** A list request for a page after the first. */
  paged?: boolean;
  /**
   * The agent cancelled it after it was forwarded, or dropped the connection its answer was to
   * go on: its late answer is audited, not relayed, and it keeps no session open.
   */
  ended?: 'cancelled' | 'abandoned';
  /**
   * For tools/call: what to audit when the result comes back. `callId` is in every audit event
   * of one call. A held call carries the last progress value Airlock sent on its token while
   * it waited (`progressBase`).
   */
  call?: { tool: string; callId?: string; approvalId?: string; edited?: boolean; progressBase?: number };
};

/**
 * A tools/call not yet forwarded: why it was cancelled (null while it stands), and who to tell.
 * `answer`: Airlock cancelled it (the session is ending), so once the cancellation is recorded
 * the agent is told the call did not run; a call the agent cancelled gets no answer (MCP).
 */
type PendingCall = {
  cancelled: string | null;
  answer?: boolean;
  onCancel?: (reason: string) => void;
  settled?: () => void;
};

const INTERNAL_PREFIX = 'airlock-internal-';
const MAX_TOOL_NAME = 128;
const INTERNAL_TIMEOUT_MS = 30_000;
/** How long closing a session waits for its pending calls to record their cancellation and be answered. */
const CLOSE_WAIT_MS = 5_000;

export type SessionOptions = {
  context: GatewayContext;
  agent: AgentIdentity;
  upstreamName: string;
  upstreamConfig: UpstreamConfig;
  onInitialized: (sessionId: string, session: GatewaySession) => void;
  onClosed: (session: GatewaySession) => void;
};

/**
 * One agent's MCP session on one upstream: the downstream Streamable HTTP transport, its
 * own upstream client transport, and a raw JSON-RPC relay between them. Only `tools/call`
 * (and the denied tools in `tools/list`) is intercepted; everything else passes unchanged
 * in both directions (invariant 9).
 */
export class GatewaySession {
  readonly downstream: DownstreamTransport;
  readonly agent: AgentIdentity;
  readonly upstreamName: string;
  lastActivity = Date.now();

  private upstream?: Transport;
  private upstreamReady?: Promise<void>;
  private readonly inflight = new Map<RequestId, InFlight>();
  /**
   * tools/call requests from arrival until forwarded upstream or answered. A cancellation
   * (or a closed session) at any point in between is recorded here, so a call cancelled while
   * Airlock was still reading the tool list or recording the hold never runs (invariant 3).
   */
  private readonly calls = new Map<RequestId, PendingCall>();
  private readonly internal = new Map<string, { resolve: (m: JSONRPCMessage) => void; timer: NodeJS.Timeout }>();
  private internalSeq = 0;
  /** Why the session is ending, from the moment close() starts: nothing is forwarded after it. */
  private closeReason: string | null = null;
  private closing?: Promise<void>;
  /** The streams are closed: nothing more reaches the agent. */
  private closed = false;
  readonly tools: ToolCatalog;
  /** The upstream's `initialize` result capabilities, once known. */
  serverCapabilities: Record<string, unknown> = {};

  constructor(private readonly options: SessionOptions) {
    this.agent = options.agent;
    this.upstreamName = options.upstreamName;
    this.tools = new ToolCatalog(
      (method, params) => this.requestUpstream(method, params),
      (tools) => this.context.recordTools(this.upstreamName, tools),
    );
    this.downstream = new DownstreamTransport({
      onSessionInitialized: (sessionId) => options.onInitialized(sessionId, this),
      keepAliveMs: 15_000,
      headersWaitMs: options.context.headersWaitMs,
      // a call not yet forwarded whose answer can no longer reach the agent is not run (invariant 1);
      // a request already upstream runs on (a disconnection is not a cancellation), but its answer,
      // with no stream to go on, is audited and dropped, and it no longer keeps the session open
      onAbandoned: (ids) => {
        for (const id of ids) {
          const call = this.calls.get(id);
          if (call) this.cancelCall(call, 'the agent disconnected before the call ran');
          const entry = this.inflight.get(id);
          if (entry) entry.ended ??= 'abandoned';
        }
      },
    });
    this.downstream.onmessage = (message) => {
      this.lastActivity = Date.now();
      void this.fromDownstream(message).catch((error) => log.error('gateway: downstream message failed', { error: String(error) }));
    };
    this.downstream.onclose = () => void this.close('the agent closed its session');
    this.downstream.onerror = (error) => log.debug('gateway: downstream transport', { error: error.message });
  }

  get sessionId(): string | undefined {
    return this.downstream.sessionId;
  }

  /** Requests in flight upstream or held for approval: a session with any is not idle. */
  get busy(): boolean {
    // a request the agent cancelled or abandoned may never be answered: it keeps no session alive
    for (const entry of this.inflight.values()) if (!entry.ended) return true;
    return this.calls.size > 0;
  }

  get context(): GatewayContext {
    return this.options.context;
  }

  // ─── downstream → upstream ────────────────────────────────────────────────

  private async fromDownstream(message: JSONRPCMessage): Promise<void> {
    if (isRequest(message)) {
      // ids identify calls for cancellation and replies: a reused or reserved one is refused.
      // The refusal bypasses reply(), which would stop tracking the call that holds the id.
      if (
        this.calls.has(message.id) ||
        this.inflight.has(message.id) ||
        (typeof message.id === 'string' && message.id.startsWith(INTERNAL_PREFIX))
      ) {
        // a tools/call not yet forwarded keeps its id's stream (the transport refuses a reuse
        // before it gets here): a refusal would read as that call's answer, so none is sent
        if (this.calls.has(message.id)) return log.warn('gateway: request id reused while its call is pending; ignored');
        return this.downstream
          .send(
            errorResponse(
              message.id,
              ErrorCode.InvalidRequest,
              `request id ${JSON.stringify(message.id)} is already in use in this session`,
            ),
          )
          .catch((error: Error) => log.debug('gateway: reply not delivered', { error: error.message }));
      }
      if (message.method === 'initialize') await this.connectUpstream(message.id);
      if (message.method === 'tools/call') {
        // a call that arrives while the session ends is cancelled at once; its path records that
        this.calls.set(message.id, { cancelled: this.closeReason, answer: this.closeReason !== null });
        // Airlock's id of the call, in each of its audit events (the agent's JSON-RPC id may come again once answered)
        const callId = randomUUID();
        return this.toolCall(message, callId).catch((error) => this.failCall(message, callId, error));
      }
      // a task-augmented call's real result arrives through tasks/result: audited like any tool result
      if (message.method === 'tasks/result') return this.forward(message, { tool: '(task result)' });
      return this.forward(message);
    }
    if (isNotification(message) && !message.method.startsWith('notifications/')) {
      // a request sent without an id (a JSON-RPC notification, e.g. a tools/call): an upstream that
      // processes notifications as JSON-RPC 2.0 says would run it unanswered, so it is never
      // forwarded (invariant 1); a call attempted this way is audited as refused
      log.warn('gateway: a request without an id was dropped', { method: message.method.slice(0, 100) });
      if (message.method !== 'tools/call') return;
      const name = (message.params as { name?: unknown } | undefined)?.name;
      await this.recordRefusal(typeof name === 'string' ? name : null, 'a tools/call without an id is never forwarded', randomUUID());
      return;
    }
    if (isNotification(message) && message.method === 'notifications/cancelled') {
      const id = (message.params as { requestId?: RequestId } | undefined)?.requestId;
      const call = id === undefined ? undefined : this.calls.get(id);
      // a call not yet forwarded never reached the upstream: end it here, tell the upstream nothing
      if (call) return this.cancelCall(call, 'the agent cancelled the call');
      const inflight = id === undefined ? undefined : this.inflight.get(id);
      if (inflight && id !== undefined) {
        inflight.ended = 'cancelled';
        this.downstream.endRequest(id);
      }
    }
    await this.sendUpstream(message);
  }

  private cancelCall(call: PendingCall, reason: string, answer = false): void {
    if (call.cancelled) return;
    call.cancelled = reason;
    call.answer = answer;
    call.onCancel?.(reason);
  }

  /** Why a tools/call not yet forwarded was cancelled, or null while it stands. */
  cancelled(id: RequestId): string | null {
    return this.calls.get(id)?.cancelled ?? null;
  }

  /** Run `onCancel` when the call is cancelled (at once if it already was); returns a function that stops tracking. */
  onCancel(id: RequestId, onCancel: (reason: string) => void): () => void {
    const call = this.calls.get(id);
    if (!call) {
      onCancel('the call is no longer tracked');
      return () => {};
    }
    if (call.cancelled) onCancel(call.cancelled);
    else call.onCancel = onCancel;
    return () => {
      if (call.onCancel === onCancel) call.onCancel = undefined;
    };
  }

  /**
   * Stop tracking a tools/call that was cancelled before it reached the upstream, once its
   * cancellation is recorded: the agent who cancelled gets no answer; when the session is
   * ending, the agent is told the call was not executed.
   */
  async endCall(id: RequestId, recorded = true): Promise<void> {
    const call = this.calls.get(id);
    if (call?.cancelled && call.answer) {
      // invariant 5: without its audit row, the agent learns only that nothing ran
      const text = recorded
        ? `The call was not executed: ${call.cancelled}.`
        : 'Airlock could not record this call in its audit log, so it was not executed.';
      return this.reply(refusal(id, text, { status: 'cancelled' }));
    }
    this.calls.delete(id);
    this.downstream.endRequest(id);
    call?.settled?.();
  }

  /**
   * Record that a tools/call was cancelled before it reached the upstream, then end it.
   * `approvalUsed`: its approval was claimed (`tool.forwarded` is recorded) in the instant before.
   */
  async endCancelled(id: RequestId, call: NonNullable<InFlight['call']>, approvalUsed = false): Promise<void> {
    const recorded = await this.auditOrLog({
      type: 'tool.cancelled',
      actor: { type: 'agent', id: this.agent.id },
      sessionId: this.sessionId,
      requestId: call.approvalId ?? null,
      payload: { callId: call.callId, tool: call.tool, reason: this.cancelled(id), ...(approvalUsed ? { approvalUsed } : {}) },
    });
    return this.endCall(id, recorded);
  }

  /** Forward a downstream request upstream, remembering it until its response returns. */
  async forward(request: JSONRPCRequest, call?: InFlight['call']): Promise<void> {
    const pending = this.calls.get(request.id);
    if (!pending && this.closeReason !== null) {
      return this.reply(errorResponse(request.id, ErrorCode.ConnectionClosed, `the session is closing: ${this.closeReason}`));
    }
    if (call && pending) {
      // the last moment a cancellation can stop a call: after this the upstream has it. A held
      // call's approval is used up by now (its claim committed), so its record says so too
      if (pending.cancelled) return this.endCancelled(request.id, call, call.approvalId !== undefined);
      this.calls.delete(request.id);
      pending.settled?.();
    }
    const paged = (request.params as { cursor?: unknown } | undefined)?.cursor !== undefined;
    this.inflight.set(request.id, { method: request.method, progressToken: progressToken(request), paged, call });
    try {
      await this.sendUpstream(request);
    } catch (error) {
      // answered already if the session closed meanwhile
      if (!this.inflight.delete(request.id)) return;
      const reason = `upstream ${this.upstreamName} is unavailable: ${(error as Error).message}`;
      if (call) {
        // its audit row says it went ahead: its end is recorded too, an unknown outcome (an HTTP
        // upstream may have run a request whose answer failed), before the agent hears of it
        await this.auditInterrupted(call, reason);
      }
      await this.reply(errorResponse(request.id, ErrorCode.InternalError, reason));
    }
  }

  private async sendUpstream(message: JSONRPCMessage): Promise<void> {
    await this.upstreamReady;
    if (!this.upstream) throw new Error('not connected');
    await this.upstream.send(message);
  }

  private async connectUpstream(initializeId: RequestId): Promise<void> {
    if (this.upstreamReady) return this.upstreamReady;
    const config = this.options.upstreamConfig;
    const transport: Transport = config.shared
      ? this.context.shared.channel(this.upstreamName, config)
      : upstreamTransport(this.upstreamName, config);
    this.upstream = transport;
    transport.onmessage = (message) => {
      this.lastActivity = Date.now();
      void this.fromUpstream(message).catch((error) => log.error('gateway: upstream message failed', { error: String(error) }));
    };
    transport.onclose = () => void this.close(`upstream ${this.upstreamName} closed`);
    transport.onerror = (error) => log.debug(`gateway: upstream ${this.upstreamName}`, { error: error.message });
    this.upstreamReady = transport.start().catch(async (error: Error) => {
      this.upstream = undefined;
      // the operator's to fix: the agent is told below, the log says it too
      log.warn(`gateway: cannot start upstream ${this.upstreamName}`, { agent: this.agent.name, error: error.message });
      await this.reply(
        errorResponse(initializeId, ErrorCode.InternalError, `cannot start upstream ${this.upstreamName}: ${error.message}`),
      );
      throw error;
    });
    return this.upstreamReady.catch(() => {});
  }

  // ─── upstream → downstream ────────────────────────────────────────────────

  private async fromUpstream(message: JSONRPCMessage): Promise<void> {
    if (isResponse(message)) {
      const id = message.id as RequestId;
      const internal = typeof id === 'string' ? this.internal.get(id) : undefined;
      if (internal) {
        clearTimeout(internal.timer);
        this.internal.delete(id as string);
        return internal.resolve(message);
      }
      const entry = this.inflight.get(id);
      // an answer to nothing Airlock sent (e.g. to a call still held) must not reach the agent
      if (!entry) return log.warn(`gateway: upstream ${this.upstreamName} answered an unknown request id; dropped`, { id: String(id) });
      this.inflight.delete(id);
      if (entry.ended) {
        // the agent gave up on it: record what the upstream did, relay nothing
        if (entry.call) await this.auditResult(message, entry.call, entry.ended).catch(() => {});
        return;
      }
      if (entry.method === 'initialize' && isResult(message)) this.initialized(message.result);
      if (entry.method === 'tools/list' && isResult(message)) message.result = this.filterToolList(message.result, entry.paged ?? false);
      if (entry.call) return this.relayCallResult(message, entry.call);
      return this.reply(message);
    }
    if (isNotification(message)) {
      if (message.method === 'notifications/tools/list_changed') this.tools.invalidate();
      if (message.method === 'notifications/progress') {
        const params = message.params as { progressToken?: string | number; progress?: unknown; total?: unknown } | undefined;
        const id = this.requestWithToken(params?.progressToken);
        const base = id === undefined ? undefined : this.inflight.get(id)?.call?.progressBase;
        if (base && params && typeof params.progress === 'number') {
          // MCP: progress on a token must increase. Airlock sent 1..base while the call was held;
          // the upstream's own count, which starts again, continues from there
          params.progress += base;
          if (typeof params.total === 'number') params.total += base;
        }
        return this.toDownstream(message, id);
      }
      if (message.method.endsWith('/list_changed') || message.method === 'notifications/resources/updated') {
        return this.toDownstream(message, undefined);
      }
    }
    // server→client requests (sampling, elicitation, roots, ping) and logs: the stream of the
    // request that most likely caused them, so a client without a standalone stream gets them
    await this.toDownstream(message, this.latestInFlight());
  }

  private initialized(result: Record<string, unknown>): void {
    this.serverCapabilities = (result.capabilities as Record<string, unknown> | undefined) ?? {};
    const version = result.protocolVersion;
    if (typeof version === 'string') this.upstream?.setProtocolVersion?.(version);
  }

  /** Record what the upstream answered to a call (committed when this resolves). */
  private async auditResult(message: JSONRPCMessage, call: NonNullable<InFlight['call']>, ended?: InFlight['ended']): Promise<void> {
    if (!isResponse(message)) return;
    const result = isResult(message) ? message.result : undefined;
    await this.context.audit.record({
      type: 'tool.result',
      actor: { type: 'agent', id: this.agent.id },
      sessionId: this.sessionId,
      requestId: call.approvalId ?? null,
      payload: {
        sessionId: this.sessionId,
        callId: call.callId,
        upstream: this.upstreamName,
        tool: call.tool,
        ok: result !== undefined,
        isError: result?.isError === true,
        // of the result as relayed; canonical JSON is kept for what approvals bind (arguments, definitions)
        resultDigest: sha256(JSON.stringify(result ?? ('error' in message ? message.error : null))),
        edited: call.edited ?? false,
        ...(ended ? { [ended]: true } : {}),
      },
    });
  }

  /** invariant 5: the result's audit row commits before the agent sees the result. */
  private async relayCallResult(message: JSONRPCMessage, call: NonNullable<InFlight['call']>): Promise<void> {
    if (!isResponse(message)) return;
    try {
      await this.auditResult(message, call);
    } catch (error) {
      log.error('gateway: audit of a tool result failed; result withheld', { error: String(error) });
      return this.reply(
        errorResponse(
          message.id as RequestId,
          ErrorCode.InternalError,
          'Airlock could not record the result in its audit log, so it is withheld',
        ),
      );
    }
    const result = isResult(message) ? message.result : undefined;
    if (call.edited && result && Array.isArray(result.content)) {
      // the agent must know it got the result of arguments a reviewer changed
      result.content = [
        ...result.content,
        { type: 'text', text: 'Note from Airlock: a reviewer edited the arguments of this call before approving it.' },
      ];
    }
    await this.reply(message);
  }

  /** Drop tools a rule denies: a denied tool is hidden as well as refused. */
  private filterToolList(result: Record<string, unknown>, paged: boolean): Record<string, unknown> {
    const tools = result.tools;
    if (!Array.isArray(tools)) return result;
    this.tools.remember(tools as Tool[]);
    // a single unpaginated page is the whole list: keep it as the upstream's snapshot
    if (!paged && result.nextCursor === undefined) this.context.recordTools(this.upstreamName, tools);
    const rules = this.context.rules();
    // over-long names are refused on call (MCP asks for 1-128 characters), so they are not offered either
    const visible = tools.filter(
      (tool: Tool) =>
        typeof tool?.name === 'string' && tool.name.length <= MAX_TOOL_NAME && evaluate(rules, this.upstreamName, tool).action !== 'deny',
    );
    return visible.length === tools.length ? result : { ...result, tools: visible };
  }

  private requestWithToken(token: string | number | undefined): RequestId | undefined {
    if (token === undefined) return undefined;
    for (const [id, entry] of this.inflight) if (entry.progressToken === token) return id;
    return this.calls.size > 0 ? undefined : this.latestInFlight();
  }

  private latestInFlight(): RequestId | undefined {
    let latest: RequestId | undefined;
    for (const id of this.inflight.keys()) latest = id;
    return latest;
  }

  /** Send a notification or request to the agent, on a request's stream when possible. */
  async toDownstream(message: JSONRPCMessage, relatedRequestId: RequestId | undefined): Promise<void> {
    if (this.closed) return;
    try {
      await this.downstream.send(message, relatedRequestId === undefined ? undefined : { relatedRequestId });
    } catch {
      if (relatedRequestId === undefined) return;
      // that request's stream is gone: fall back to the standalone stream
      await this.downstream.send(message).catch(() => {});
    }
  }

  /** Answer a downstream request. */
  async reply(message: JSONRPCMessage): Promise<void> {
    // an answered tools/call is no longer cancellable
    const id = isResponse(message) ? (message.id as RequestId | undefined) : undefined;
    const call = id === undefined ? undefined : this.calls.get(id);
    if (call) this.calls.delete(id as RequestId);
    if (call?.cancelled && !call.answer) {
      // the agent cancelled it while Airlock was refusing it: MCP asks for no answer (what was recorded stands)
      this.downstream.endRequest(id as RequestId);
    } else if (!this.closed) {
      await this.downstream.send(message).catch((error: Error) => log.debug('gateway: reply not delivered', { error: error.message }));
    }
    call?.settled?.();
  }

  // ─── tools/call ───────────────────────────────────────────────────────────

  private async toolCall(request: JSONRPCRequest, callId: string): Promise<void> {
    const params = request.params as { name?: unknown; arguments?: unknown } | undefined;
    const name = params?.name;
    if (typeof name !== 'string' || name === '') {
      return this.reply(errorResponse(request.id, ErrorCode.InvalidParams, 'tools/call needs params.name, the tool to call'));
    }
    if (name.length > MAX_TOOL_NAME) {
      return this.reply(errorResponse(request.id, ErrorCode.InvalidParams, `tool names are at most ${MAX_TOOL_NAME} characters`));
    }
    const args = params?.arguments ?? {};
    const actor = { type: 'agent' as const, id: this.agent.id };
    let argumentsDigest: string;
    try {
      argumentsDigest = digest(args);
    } catch (error) {
      // invariant 2: arguments without a digest cannot be bound to an approval, so they are refused whatever the rule
      const reason = `tools/call arguments are ${(error as Error).message}`;
      await this.recordRefusal(name, reason, callId);
      return this.reply(errorResponse(request.id, ErrorCode.InvalidParams, reason));
    }
    // invariant 8: the audit log keeps arguments with secrets masked; the digest binds the real ones.
    // A new object per event, not a spread of a shared one (see prepare() in server/audit/append.ts)
    const payloadOf = (fields: Record<string, unknown>) =>
      Object.assign({ sessionId: this.sessionId, callId, upstream: this.upstreamName, tool: name, argumentsDigest }, fields);
    const refuse = async (type: string, payload: Record<string, unknown>, answer: JSONRPCMessage) => {
      const recorded = await this.auditOrLog({ type, actor, sessionId: this.sessionId, payload: payloadOf(payload) });
      // invariant 5: no refusal is visible before its audit row; without one, a plain error (still not executed)
      return this.reply(
        recorded ? answer : refusal(request.id, 'Airlock could not record this call in its audit log, so it was not executed.'),
      );
    };

    let tool: Tool | undefined;
    try {
      tool = await this.tools.find(name);
    } catch (error) {
      // invariant 1: without the tool's definition there is no verdict, so no call
      return refuse(
        'tool.refused',
        { reason: 'tool list unavailable' },
        refusal(
          request.id,
          `Airlock could not read the tool list of ${this.upstreamName} (${(error as Error).message}); the call was not executed.`,
        ),
      );
    }
    if (!tool) return refuse('tool.unknown', {}, errorResponse(request.id, ErrorCode.InvalidParams, `Unknown tool: ${name}`));

    const verdict = evaluate(this.context.rules(), this.upstreamName, tool);
    if (verdict.action === 'deny') {
      return refuse(
        'tool.denied',
        { rule: verdict.ruleId, reason: verdict.reason },
        refusal(request.id, `Denied by policy (rule ${verdict.ruleId}): ${verdict.reason}. Do not retry this call.`, {
          status: 'denied',
          rule: verdict.ruleId,
        }),
      );
    }
    // cancelled while its tool was looked up (the agent, or the session ending): nothing is recorded as allowed or held
    if (this.cancelled(request.id)) return this.endCancelled(request.id, { tool: name, callId });
    const allow = async (extra: Record<string, unknown>) => {
      try {
        await this.context.audit.record({
          type: 'tool.allowed',
          actor,
          sessionId: this.sessionId,
          payload: payloadOf({ arguments: maskArguments(args).masked, rule: verdict.ruleId, ...extra }),
        });
      } catch (error) {
        log.error('gateway: audit unavailable; call refused', { error: String(error) });
        return this.reply(
          refusal(request.id, 'Airlock could not record this call in its audit log, so it was not executed. Try again later.'),
        );
      }
      return this.forward(request, { tool: name, callId });
    };
    if (verdict.action === 'allow') return allow({});

    const grantId = await this.liveGrant(name, verdict);
    if (grantId) return allow({ grantId });
    if (this.cancelled(request.id)) return this.endCancelled(request.id, { tool: name, callId });
    return holdCall(this, request, tool, verdict, callId);
  }

  /** Record that a tools/call was refused unrun (invariant 5); false when the audit log did not take it. */
  recordRefusal(tool: unknown, reason: string, callId: string): Promise<boolean> {
    return this.auditOrLog({
      type: 'tool.refused',
      actor: { type: 'agent', id: this.agent.id },
      sessionId: this.sessionId,
      payload: { sessionId: this.sessionId, callId, upstream: this.upstreamName, tool, reason },
    });
  }

  /**
   * The last word on a tools/call whose path threw (a tool definition no digest can be made
   * of, say): invariant 1, it is refused unrun, audited if the audit log takes it. A call
   * already forwarded or answered is no longer tracked here and is left alone.
   */
  private async failCall(request: JSONRPCRequest, callId: string, error: unknown): Promise<void> {
    log.error('gateway: tools/call failed; refused', { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    if (!this.calls.has(request.id)) return;
    await this.recordRefusal((request.params as { name?: unknown } | undefined)?.name, String((error as Error)?.message ?? error), callId);
    if (!this.calls.has(request.id)) return;
    await this.reply(
      refusal(request.id, `Airlock could not process this call (${(error as Error)?.message ?? error}); it was not executed.`),
    );
  }

  /**
   * A reviewer's session grant that still covers this call: the current rule must still
   * offer grants on single-approval requests, and the tool's definition, re-read now, must
   * be the one the reviewer saw. Any doubt holds the call instead.
   */
  private async liveGrant(name: string, verdict: Verdict): Promise<string | null> {
    if (verdict.maxGrantMinutes <= 0 || verdict.quorum !== 1) return null;
    try {
      const grants = await findGrants(this.context.database.orm, {
        agentId: this.agent.id,
        sessionId: this.sessionId ?? '',
        upstream: this.upstreamName,
        tool: name,
      });
      if (grants.length === 0) return null;
      // a grant exists: the tool's definition, re-read from the upstream now, must be the one it was given for
      await this.tools.refresh();
      const current = await this.tools.find(name);
      if (!current) return null;
      const hash = digest(current);
      return grants.find((grant) => grant.toolDefinitionHash === hash)?.id ?? null;
    } catch (error) {
      log.warn('gateway: grant check failed; holding the call', { error: String(error) });
      return null;
    }
  }

  /** Record that a call reached (or may have reached) the upstream and got no answer. */
  private auditInterrupted(call: NonNullable<InFlight['call']>, reason: string): Promise<boolean> {
    return this.auditOrLog({
      type: 'tool.interrupted',
      actor: { type: 'agent', id: this.agent.id },
      sessionId: this.sessionId,
      requestId: call.approvalId ?? null,
      payload: { sessionId: this.sessionId, callId: call.callId, upstream: this.upstreamName, tool: call.tool, reason },
    });
  }

  /** Record an event; false (and logged) when it could not be committed. */
  private async auditOrLog(input: AuditInput): Promise<boolean> {
    try {
      await this.context.audit.record(input);
      return true;
    } catch (error) {
      log.error('gateway: audit failed', { type: input.type, error: String(error) });
      return false;
    }
  }

  /** A request of Airlock's own to the upstream (e.g. tools/list), answered outside the relay. */
  private async requestUpstream(method: string, params?: Record<string, unknown>): Promise<JSONRPCMessage> {
    const id = `${INTERNAL_PREFIX}${++this.internalSeq}`;
    const response = new Promise<JSONRPCMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.internal.delete(id);
        reject(new Error(`${method} timed out`));
      }, INTERNAL_TIMEOUT_MS);
      this.internal.set(id, { resolve, timer });
    });
    // not awaited: over HTTP a send lasts as long as the upstream's answer, and a session that
    // ends meanwhile answers this request at once (shutdown) rather than after the upstream
    this.sendUpstream({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) } as JSONRPCRequest).catch((error: Error) => {
      const entry = this.internal.get(id);
      if (!entry) return;
      clearTimeout(entry.timer);
      this.internal.delete(id);
      entry.resolve(errorResponse(id, ErrorCode.InternalError, `${method} could not be sent: ${error.message}`));
    });
    return response;
  }

  // ─── lifecycle ────────────────────────────────────────────────────────────

  /** End the session: cancel held calls, fail calls in flight, close both transports. */
  close(reason: string): Promise<void> {
    this.closing ??= this.shutdown(reason);
    return this.closing;
  }

  private async shutdown(reason: string): Promise<void> {
    this.closeReason = reason;
    // calls not yet forwarded end unrun, each on its own path (hold, grant check, forward),
    // which records the cancellation and then tells the agent, while its stream is still open
    const ending = [...this.calls.values()].map(
      (call) =>
        new Promise<void>((resolve) => {
          call.settled = resolve;
          this.cancelCall(call, reason, true);
        }),
    );
    // Airlock's own requests (tool lists) fail now, so a call waiting on one ends too
    for (const [id, { resolve, timer }] of this.internal) {
      clearTimeout(timer);
      resolve(errorResponse(id, ErrorCode.ConnectionClosed, reason));
    }
    this.internal.clear();
    // requests in flight get an answer (e.g. the upstream died), a tool call's end recorded first
    const unanswered = [...this.inflight.entries()];
    this.inflight.clear();
    const answered = unanswered.map(async ([id, { call }]) => {
      if (call) await this.auditInterrupted(call, reason);
      await this.reply(errorResponse(id, ErrorCode.ConnectionClosed, reason));
    });
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_WAIT_MS);
    });
    // a call whose cancellation cannot be recorded in time still never runs: it just gets no answer
    await Promise.race([Promise.allSettled([...ending, ...answered]), waited]);
    clearTimeout(timer);
    this.closed = true;
    this.options.onClosed(this);
    await Promise.allSettled([this.upstream?.close(), this.downstream.close()]);
  }
}
