import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DownstreamTransport } from '../../server/gateway/downstream';
import type { JSONRPCMessage } from '../../server/gateway/messages';
import { eventually } from '../helpers/airlock';

const initialize = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

/**
 * The agent side of a session, on a real HTTP server, without the rest of the gateway: what
 * happens between a request's arrival and the transport's handling of it is up to each test.
 */
describe('DownstreamTransport', () => {
  let transport: DownstreamTransport;
  let server: Server;
  let url: string;
  let received: JSONRPCMessage[];
  /** What the transport reported as abandoned by the agent, one array per report. */
  let abandoned: unknown[][];
  /** How long the server waits before handing a request to the transport (the gateway authenticates meanwhile). */
  let delayMs: number;

  const headers = () => ({
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-session-id': transport.sessionId ?? '',
    'mcp-protocol-version': '2025-06-18',
  });
  /** A raw HTTP request on its own socket, which the agent drops when the test says. */
  const sendRaw = (method: string, body: string) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.on('error', () => {});
    const lines = [`${method} / HTTP/1.1`, 'host: 127.0.0.1', ...Object.entries(headers()).map(([k, v]) => `${k}: ${v}`)];
    if (body) lines.push(`content-length: ${Buffer.byteLength(body)}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
    return { drop: () => socket.destroy() };
  };
  /** The same, dropped `dropAfterMs` after it is sent. */
  const sendAndDrop = async (method: string, body: string, dropAfterMs: number) => {
    const request = sendRaw(method, body);
    await new Promise((resolve) => setTimeout(resolve, dropAfterMs));
    request.drop();
  };

  beforeEach(async () => {
    delayMs = 0;
    received = [];
    abandoned = [];
    server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks).toString();
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      await transport.handleRequest(req, res, text ? JSON.parse(text) : undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    await openSession();
  });

  /** A new transport (the session the server serves from now on), initialized over HTTP. */
  const openSession = async (options: { headersWaitMs?: number; keepAliveMs?: number } = {}) => {
    await transport?.close();
    received = [];
    transport = new DownstreamTransport({
      onSessionInitialized: () => {},
      keepAliveMs: 50,
      onAbandoned: (ids) => abandoned.push(ids),
      ...options,
    });
    transport.onmessage = (message) => received.push(message);
    const opened = fetch(url, { method: 'POST', headers: headers(), body: JSON.stringify(initialize) });
    await eventually(() => received.length === 1);
    await transport.send({
      jsonrpc: '2.0',
      id: 0,
      result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 's', version: '1' } },
    });
    expect((await opened).status).toBe(200);
  };

  afterEach(async () => {
    await transport.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('keeps the standalone stream free when a GET’s agent left before the transport saw it', async () => {
    delayMs = 200;
    await sendAndDrop('GET', '', 20);
    await new Promise((resolve) => setTimeout(resolve, 400));
    delayMs = 0;
    const controller = new AbortController();
    const again = await fetch(url, { headers: { ...headers(), accept: 'text/event-stream' }, signal: controller.signal });
    expect(again.status).toBe(200);
    controller.abort();
  });

  it('sends keep-alive comments on an open stream', async () => {
    const controller = new AbortController();
    const stream = await fetch(url, { headers: { ...headers(), accept: 'text/event-stream' }, signal: controller.signal });
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toBe(': keepalive\n\n');
    controller.abort();
  });

  it('refuses a message for a request whose stream the agent dropped, so the session can use the standalone stream', async () => {
    await sendAndDrop('POST', JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'x' } }), 50);
    await eventually(() => received.some((m) => 'id' in m && m.id === 5));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const progress = { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'still here' } } as JSONRPCMessage;
    await expect(transport.send(progress, { relatedRequestId: 5 })).rejects.toThrow(/stream of request 5 is closed/);
  });

  it('ends a batch’s stream once each request is answered or ended without an answer', async () => {
    const call = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'x' } });
    const response = fetch(url, { method: 'POST', headers: headers(), body: JSON.stringify([call(1), call(2)]) });
    await eventually(() => received.length === 3);
    await transport.send({ jsonrpc: '2.0', id: 1, result: { content: [] } });
    transport.endRequest(2);
    const body = await (await response).text();
    // keep-alive comments aside, the one answer
    expect(body.replaceAll(': keepalive\n\n', '')).toBe(
      `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [] } })}\n\n`,
    );
    await expect(transport.send({ jsonrpc: '2.0', id: 2, result: { content: [] } })).rejects.toThrow(/No connection/);
  });

  it('reports the requests a dropped POST left unanswered, and only those', async () => {
    const call = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'x' } });
    const request = sendRaw('POST', JSON.stringify([call(11), call(12)]));
    await eventually(() => received.filter((m) => 'id' in m && (m.id === 11 || m.id === 12)).length === 2);
    await transport.send({ jsonrpc: '2.0', id: 11, result: { content: [] } });
    request.drop();
    await eventually(() => abandoned.length === 1);
    expect(abandoned).toEqual([[12]]);
  });

  it('reports the requests of a POST whose agent left before the transport saw it, once they are dispatched', async () => {
    delayMs = 200;
    await sendAndDrop('POST', JSON.stringify({ jsonrpc: '2.0', id: 21, method: 'tools/call', params: { name: 'x' } }), 20);
    await eventually(() => abandoned.length === 1);
    // dispatched first, so the session knows the call it is told about
    expect(received.some((m) => 'id' in m && m.id === 21)).toBe(true);
    expect(abandoned).toEqual([[21]]);
  });

  it('reports nothing when Airlock ends the stream: every request answered or ended, or the session closed', async () => {
    const call = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'x' } });
    const answered = fetch(url, { method: 'POST', headers: headers(), body: JSON.stringify([call(31), call(32)]) });
    const open = fetch(url, { method: 'POST', headers: headers(), body: JSON.stringify(call(33)) });
    await eventually(() => received.filter((m) => 'id' in m && [31, 32, 33].includes(m.id as number)).length === 3);
    await transport.send({ jsonrpc: '2.0', id: 31, result: { content: [] } });
    transport.endRequest(32);
    await (await answered).text();
    await transport.close();
    await (await open).text();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(abandoned).toEqual([]);
  });

  it('keeps messages for the standalone stream until the agent opens it, as a direct connection would deliver them', async () => {
    const changed = { jsonrpc: '2.0', method: 'notifications/tools/list_changed' } as JSONRPCMessage;
    const log = { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'early' } } as JSONRPCMessage;
    await transport.send(changed);
    await transport.send(log);
    const controller = new AbortController();
    const stream = await fetch(url, { headers: { ...headers(), accept: 'text/event-stream' }, signal: controller.signal });
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('early')) text += new TextDecoder().decode((await reader.read()).value);
    const events = text.split('\n').filter((line) => line.startsWith('data: '));
    expect(events).toEqual([`data: ${JSON.stringify(changed)}`, `data: ${JSON.stringify(log)}`]);
    controller.abort();
  });
  describe('how a POST’s answer leaves', () => {
    const call = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'x' } });
    const answer = (id: number) =>
      ({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: `answer ${id}` }] } }) as JSONRPCMessage;
    const post = (body: unknown) => fetch(url, { method: 'POST', headers: headers(), body: JSON.stringify(body) });
    const dispatched = (id: number) => eventually(() => received.some((m) => 'id' in m && m.id === id));

    it('as one JSON body when a single request is answered before its stream opened', async () => {
      await openSession({ headersWaitMs: 30_000, keepAliveMs: 60_000 });
      const response = post(call(1));
      await dispatched(1);
      await transport.send(answer(1));
      const res = await response;
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(res.headers.get('mcp-session-id')).toBe(transport.sessionId);
      const body = await res.text();
      expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(body)));
      expect(JSON.parse(body)).toEqual(answer(1));
    });

    it('as SSE once a message related to the request went first', async () => {
      await openSession({ headersWaitMs: 30_000, keepAliveMs: 60_000 });
      const response = post({ ...call(2), params: { name: 'x', _meta: { progressToken: 'p' } } });
      await dispatched(2);
      const progress = { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'p', progress: 1 } } as JSONRPCMessage;
      await transport.send(progress, { relatedRequestId: 2 });
      await transport.send(answer(2));
      const res = await response;
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      expect(await res.text()).toBe(
        `event: message\ndata: ${JSON.stringify(progress)}\n\nevent: message\ndata: ${JSON.stringify(answer(2))}\n\n`,
      );
    });

    it('as SSE when the answer comes after the stream’s headers went out', async () => {
      await openSession({ headersWaitMs: 20, keepAliveMs: 60_000 });
      const response = post(call(3));
      await dispatched(3);
      // the agent has the headers: the stream is open, so the answer is an event on it
      const res = await response;
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      await transport.send(answer(3));
      expect(await res.text()).toBe(`event: message\ndata: ${JSON.stringify(answer(3))}\n\n`);
    });

    it('as SSE for a batch of one request: a batch is answered with an array', async () => {
      await openSession({ headersWaitMs: 30_000, keepAliveMs: 60_000 });
      const response = post([call(8)]);
      await dispatched(8);
      await transport.send(answer(8));
      const res = await response;
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      expect(await res.text()).toBe(`event: message\ndata: ${JSON.stringify(answer(8))}\n\n`);
    });

    it('as SSE for a batch, and for a request ended without an answer', async () => {
      await openSession({ headersWaitMs: 30_000, keepAliveMs: 60_000 });
      const batch = post([call(4), call(5)]);
      await dispatched(5);
      await transport.send(answer(4));
      await transport.send(answer(5));
      const batchRes = await batch;
      expect(batchRes.headers.get('content-type')).toBe('text/event-stream');
      expect(await batchRes.text()).toBe(
        `event: message\ndata: ${JSON.stringify(answer(4))}\n\nevent: message\ndata: ${JSON.stringify(answer(5))}\n\n`,
      );
      const cancelled = post(call(6));
      await dispatched(6);
      transport.endRequest(6);
      const cancelledRes = await cancelled;
      expect(cancelledRes.headers.get('content-type')).toBe('text/event-stream');
      expect(await cancelledRes.text()).toBe('');
    });

    it('always as SSE when headers are not held back', async () => {
      await openSession({ headersWaitMs: 0, keepAliveMs: 60_000 });
      const response = post(call(7));
      await dispatched(7);
      await transport.send(answer(7));
      const res = await response;
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      expect(await res.text()).toBe(`event: message\ndata: ${JSON.stringify(answer(7))}\n\n`);
    });
  });
});
