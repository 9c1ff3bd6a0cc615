import type { ServerResponse } from 'node:http';
import {
  type CallToolResult,
  ErrorCode,
  type JSONRPCErrorResponse,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type JSONRPCResultResponse,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';

export type { JSONRPCMessage, JSONRPCNotification, JSONRPCRequest, RequestId };
export { ErrorCode };

/** A message with an id and a method: a request (either direction). */
export function isRequest(message: JSONRPCMessage): message is JSONRPCRequest {
  return 'method' in message && 'id' in message && message.id !== undefined;
}

export function isNotification(message: JSONRPCMessage): message is JSONRPCNotification {
  return 'method' in message && !('id' in message && message.id !== undefined);
}

/** A result or error answering a request. */
export function isResponse(message: JSONRPCMessage): message is JSONRPCResultResponse | JSONRPCErrorResponse {
  return !('method' in message) && ('result' in message || 'error' in message);
}

export function isResult(message: JSONRPCMessage): message is JSONRPCResultResponse {
  return isResponse(message) && 'result' in message;
}

export function errorResponse(id: RequestId | undefined, code: number, message: string, data?: unknown): JSONRPCErrorResponse {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } } as JSONRPCErrorResponse;
}

export function resultResponse(id: RequestId, result: Record<string, unknown>): JSONRPCResultResponse {
  return { jsonrpc: '2.0', id, result } as JSONRPCResultResponse;
}

/**
 * A refusal the model can act on: a tool result with `isError`, not a protocol error,
 * so the agent reads the reason instead of treating the server as broken.
 */
export function refusal(id: RequestId, text: string, meta?: Record<string, unknown>): JSONRPCResultResponse {
  const result: CallToolResult = { content: [{ type: 'text', text }], isError: true };
  if (meta) result._meta = { 'airlock/decision': meta };
  return resultResponse(id, result);
}

/** The `_meta.progressToken` of a request, if the client asked for progress. */
export function progressToken(request: JSONRPCRequest): string | number | undefined {
  const meta = (request.params as { _meta?: { progressToken?: unknown } } | undefined)?._meta;
  const token = meta?.progressToken;
  return typeof token === 'string' || typeof token === 'number' ? token : undefined;
}

/** Answer an HTTP request with a JSON-RPC error (id null), or just end it if its headers are already out. */
export function sendJsonRpcError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return void res.end();
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}
