import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { CLIENT_IP_HEADER, stampClientIp } from '../../server/http/client-ip';

const request = (headers: Record<string, string | string[]>, remoteAddress = '192.0.2.10') =>
  ({ headers: { ...headers }, socket: { remoteAddress } }) as unknown as IncomingMessage;

describe('stampClientIp', () => {
  it.each([
    ['the connection’s address', {}, false, '192.0.2.10'],
    ['X-Forwarded-For ignored without a declared proxy', { 'x-forwarded-for': '6.6.6.6' }, false, '192.0.2.10'],
    ['a spoofed stamp replaced', { [CLIENT_IP_HEADER]: '6.6.6.6' }, false, '192.0.2.10'],
    ['behind a declared proxy, the address it saw (the last entry)', { 'x-forwarded-for': '6.6.6.6, 203.0.113.7' }, true, '203.0.113.7'],
    ['behind a declared proxy, without the header', {}, true, '192.0.2.10'],
  ] as const)('%s', (_, headers, trustProxy, expected) => {
    const req = request(headers);
    stampClientIp(req, trustProxy);
    expect(req.headers[CLIENT_IP_HEADER]).toBe(expected);
  });
});
