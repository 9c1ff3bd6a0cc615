import { describe, expect, it } from 'vitest';
import { localPath } from '../../server/lib/local-path';

describe('localPath (sign-in callbackUrl)', () => {
  it.each([
    [undefined, '/'],
    ['', '/'],
    ['/', '/'],
    ['/approvals/7f3c?action=deny#reason', '/approvals/7f3c?action=deny#reason'],
    ['/history?q=a%2Fb', '/history?q=a%2Fb'],
    // other sites, however spelled
    ['//evil.example/phish', '/'],
    ['/\\evil.example/phish', '/'],
    ['/\\/evil.example', '/'],
    ['/\t/evil.example', '/'],
    ['/\n/evil.example', '/'],
    // dot segments that resolve to //evil.example
    ['/.//evil.example', '/'],
    ['/..//evil.example', '/'],
    ['/a/..//evil.example', '/'],
    ['/%2e//evil.example', '/'],
    ['https://evil.example/', '/'],
    ['javascript:alert(1)', '/'],
    ['evil.example', '/'],
    // a path that only looks odd stays on this site
    ['/%2F%2Fevil.example', '/%2F%2Fevil.example'],
    ['/./approvals/../history', '/history'],
  ])('%j → %j', (input, expected) => {
    expect(localPath(input)).toBe(expected);
  });
});
