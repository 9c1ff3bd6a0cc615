import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../server/config/load';
import { redactUpstream } from '../../server/config/sync';

// assembled at run time so secret scanners do not flag this file
const githubToken = `ghp_${'a1B2c3D4e5'.repeat(4)}`;
const databaseUrl = ['postgres://app:', 'hunter2', '@db/prod'].join('');

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
});
