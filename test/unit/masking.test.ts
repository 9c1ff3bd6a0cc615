import { describe, expect, it } from 'vitest';
import { findMaskedSecret, MASKED_KEY_PREFIX, MAX_LISTED_SECRETS, MAX_SECRET_DEPTH, maskArguments } from '../../server/approvals/masking';
import { previewArguments } from '../../server/approvals/queue';
import { findSecrets } from '../../server/lib/inspect';

// assembled at run time so secret scanners do not flag this file
const awsKey = ['AKIA', 'IOSFODNN7EXAMPLE'].join('');
const githubToken = `ghp_${'a1B2c3D4e5'.repeat(4)}`;
const stripeKey = ['sk', 'live', 'a1B2c3D4e5f6G7h8i9J0'].join('_');

const marker = (kind: string) => ({ $airlockMasked: kind });

describe('maskArguments', () => {
  it.each([
    [
      'ordinary values stay as they are',
      { to: 'acme', amount: 250, ok: true, memo: null },
      { to: 'acme', amount: 250, ok: true, memo: null },
      [],
    ],
    [
      'a value under a secret key',
      { password: 'hunter2-but-longer' },
      { password: marker('value of "password"') },
      [{ path: ['password'], kind: 'value of "password"' }],
    ],
    ['a number under a secret key', { pin: 4711 }, { pin: marker('value of "pin"') }, [{ path: ['pin'], kind: 'value of "pin"' }]],
    [
      'a value shaped like a secret',
      { note: `use ${awsKey}` },
      { note: marker('AWS access key') },
      [{ path: ['note'], kind: 'AWS access key' }],
    ],
    [
      'array items inherit their array’s key',
      { passwords: ['a1', 'b2'] },
      { passwords: [marker('value of "passwords"'), marker('value of "passwords"')] },
      [
        { path: ['passwords', 0], kind: 'value of "passwords"' },
        { path: ['passwords', 1], kind: 'value of "passwords"' },
      ],
    ],
    [
      'nested objects and arrays keep their shape',
      { headers: [{ Authorization: 'Bearer abcdefghijklmnop123456' }], retries: 3 },
      { headers: [{ Authorization: marker('value of "Authorization"') }], retries: 3 },
      [{ path: ['headers', 0, 'Authorization'], kind: 'value of "Authorization"' }],
    ],
    ['empty strings and booleans are never secrets', { password: '', otp: true }, { password: '', otp: true }, []],
    [
      'non-secret keys that look close',
      { max_tokens: 512, page_token: 'abc', zip_code: '12345' },
      { max_tokens: 512, page_token: 'abc', zip_code: '12345' },
      [],
    ],
    [
      'a key shaped like a secret becomes a placeholder',
      { [githubToken]: 'some value' },
      { $airlockMaskedKey1: 'some value' },
      [{ path: ['$airlockMaskedKey1'], kind: 'GitHub token', key: true }],
    ],
    [
      'a placeholder skips keys the object already has',
      { $airlockMaskedKey1: 'the agent’s own key', [githubToken]: 1 },
      { $airlockMaskedKey1: 'the agent’s own key', $airlockMaskedKey2: 1 },
      [{ path: ['$airlockMaskedKey2'], kind: 'GitHub token', key: true }],
    ],
    [
      'a value named by a masked key does not quote the key',
      { [`${githubToken}_token`]: 'value' },
      { $airlockMaskedKey1: marker('value of a masked key') },
      [
        { path: ['$airlockMaskedKey1'], kind: 'GitHub token', key: true },
        { path: ['$airlockMaskedKey1'], kind: 'value of a masked key' },
      ],
    ],
    [
      'a marker lookalike from the agent is data, not a listed secret',
      { note: { $airlockMasked: 'value of "password"' } },
      { note: { $airlockMasked: 'value of "password"' } },
      [],
    ],
    ['a primitive at the root', stripeKey, marker('Stripe key'), [{ path: [], kind: 'Stripe key' }]],
    [
      'everything under a secret key, objects included, keeping their shape',
      { password: { value: 'hunter2', length: 7, rotated: true, history: [{ old: 'x' }] } },
      {
        password: {
          value: marker('value of "password"'),
          length: marker('value of "password"'),
          rotated: true,
          history: [{ old: marker('value of "password"') }],
        },
      },
      [
        { path: ['password', 'value'], kind: 'value of "password"' },
        { path: ['password', 'length'], kind: 'value of "password"' },
        { path: ['password', 'history', 0, 'old'], kind: 'value of "password"' },
      ],
    ],
    [
      'the nearest secret key names what is under it',
      { credentials: { user: 'ann', api_key: 'k-1' } },
      { credentials: { user: marker('value of "credentials"'), api_key: marker('value of "api_key"') } },
      [
        { path: ['credentials', 'user'], kind: 'value of "credentials"' },
        { path: ['credentials', 'api_key'], kind: 'value of "api_key"' },
      ],
    ],
    [
      'a key split in words that read as a secret’s name',
      { passWord: 'a', PASS_WORD: 'b', Pass_Phrase: 'c', keyboard: 'd', monkey: 'e', tokens_used: 5 },
      {
        passWord: marker('value of "passWord"'),
        PASS_WORD: marker('value of "PASS_WORD"'),
        Pass_Phrase: marker('value of "Pass_Phrase"'),
        keyboard: 'd',
        monkey: 'e',
        tokens_used: 5,
      },
      [
        { path: ['passWord'], kind: 'value of "passWord"' },
        { path: ['PASS_WORD'], kind: 'value of "PASS_WORD"' },
        { path: ['Pass_Phrase'], kind: 'value of "Pass_Phrase"' },
      ],
    ],
    [
      'the value of a name/value pair with a secret’s name (Kubernetes, Docker env)',
      {
        env: [
          { name: 'DB_PASSWORD', value: 'hunter2' },
          { name: 'HOME', value: '/root' },
        ],
      },
      {
        env: [
          { name: 'DB_PASSWORD', value: marker('value of "DB_PASSWORD"') },
          { name: 'HOME', value: '/root' },
        ],
      },
      [{ path: ['env', 0, 'value'], kind: 'value of "DB_PASSWORD"' }],
    ],
    [
      'a Key/Value pair (AWS tags, SSM parameters)',
      { Parameters: [{ Key: 'client_secret', Value: 'x' }] },
      { Parameters: [{ Key: 'client_secret', Value: marker('value of "client_secret"') }] },
      [{ path: ['Parameters', 0, 'Value'], kind: 'value of "client_secret"' }],
    ],
    [
      'a pair whose name is itself masked does not quote it',
      { env: [{ name: `${githubToken}_token`, value: 'x' }] },
      { env: [{ name: marker('GitHub token'), value: marker('value of a masked key') }] },
      [
        { path: ['env', 0, 'name'], kind: 'GitHub token' },
        { path: ['env', 0, 'value'], kind: 'value of a masked key' },
      ],
    ],
    [
      'strings holding a secret query parameter, a connection string password or an Authorization header',
      {
        url: 'https://api.example.com/v1?api_key=abc123def456&token=s3cr3tvalue',
        db: 'Server=x;User Id=sa;Password=hunter2;',
        command: 'curl -H "Authorization: Token 9f8e7d6c5b4a3210" https://api.example.com',
        link: 'https://example.com/search?q=token&page=2',
      },
      {
        url: marker('secret in URL query'),
        db: marker('secret in name=value text'),
        command: marker('secret in name: value text'),
        link: 'https://example.com/search?q=token&page=2',
      },
      [
        { path: ['url'], kind: 'secret in URL query' },
        { path: ['db'], kind: 'secret in name=value text' },
        { path: ['command'], kind: 'secret in name: value text' },
      ],
    ],
  ])('%s', (_name, input, masked, secrets) => {
    expect(maskArguments(input)).toEqual({ masked, secrets, unlisted: 0 });
  });

  it('agrees with findSecrets on every value it masks', () => {
    const args = {
      user: 'bob',
      password: 'pw-123456',
      config: { db_password: 'x', list: [{ apiKey: 'k1' }, { note: `token ${githubToken}` }], safe: 'plain text' },
      amounts: [1, 2, 3],
      secret: { nested: { deeper: ['a', 1] } },
      env: [{ name: 'API_TOKEN', value: 'v' }],
      dsn: 'Server=x;Password=hunter2',
    };
    const { secrets } = maskArguments(args);
    expect(secrets.map((s) => s.path)).toEqual(findSecrets(args, 1000).map((s) => s.path));
    expect(secrets.map((s) => s.kind)).toEqual(findSecrets(args, 1000).map((s) => s.kind));
  });

  it('leaves the input unchanged and keeps __proto__ an ordinary key', () => {
    const input = JSON.parse('{"__proto__": {"api_key": "k-123"}, "a": [1, {"pin": 1234}]}');
    const before = JSON.stringify(input);
    const { masked, secrets } = maskArguments(input);
    expect(JSON.stringify(input)).toBe(before);
    expect(Object.getPrototypeOf(masked)).toBe(Object.prototype);
    expect(JSON.stringify(masked)).toBe(
      '{"__proto__":{"api_key":{"$airlockMasked":"value of \\"api_key\\""}},"a":[1,{"pin":{"$airlockMasked":"value of \\"pin\\""}}]}',
    );
    expect(secrets.map((s) => s.path)).toEqual([
      ['__proto__', 'api_key'],
      ['a', 1, 'pin'],
    ]);
  });

  it('walks 100,000 levels of nesting without recursion, listing only paths it may', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 100_000; i++) deep = { next: deep, password: `pw-${i}` };
    const started = performance.now();
    const { masked, secrets, unlisted } = maskArguments(deep);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(secrets.length + unlisted).toBe(100_000);
    expect(secrets.every((s) => s.path.length <= MAX_SECRET_DEPTH)).toBe(true);
    expect(secrets.reduce((n, s) => n + s.path.length, 0)).toBeLessThanOrEqual(100_000);
    // too deep for JSON.stringify: follow the chain instead
    let levels = 0;
    let unmasked = 0;
    for (
      let at = masked as { next?: unknown; password?: unknown };
      typeof at === 'object' && at !== null;
      at = at.next as typeof at, levels++
    )
      if (typeof at.password === 'string') unmasked++;
    expect(levels).toBe(100_000);
    expect(unmasked).toBe(0);
  });

  it('lists at most 1,000 secrets and masks the rest all the same', () => {
    const { masked, secrets, unlisted } = maskArguments({ passwords: Array.from({ length: 1500 }, (_, i) => `hidden-${i}`) });
    expect(secrets).toHaveLength(MAX_LISTED_SECRETS);
    expect(unlisted).toBe(500);
    expect(JSON.stringify(masked)).not.toContain('hidden-');
  });

  it.each([
    ['a million numbers', { values: Array.from({ length: 1_000_000 }, (_, i) => i) }],
    ['a 1 MB string', { data: 'x'.repeat(1_000_000) }],
    ['10,000 keys', Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v'.repeat(100)]))],
  ])('masks %s quickly', (_name, value) => {
    const started = performance.now();
    const { masked, secrets } = maskArguments(value);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(secrets).toEqual([]);
    expect(masked).toEqual(value);
  });
});

describe('findMaskedSecret', () => {
  const args = {
    to: 'acme',
    password: 'pw-123456',
    nested: { api_keys: ['k-1', 'k-2'] },
    [githubToken]: 'x',
    auth: { basic: { user: 'ann' } },
    env: [{ name: 'DB_PASSWORD', value: 'hunter2' }],
  };

  it.each([
    ['a value masked by its key', ['password'], false, { kind: 'value of "password"', value: 'pw-123456' }],
    ['an array item', ['nested', 'api_keys', 1], false, { kind: 'value of "api_keys"', value: 'k-2' }],
    ['a masked key, by its placeholder', ['$airlockMaskedKey1'], true, { kind: 'GitHub token', value: githubToken }],
    ['an ordinary value', ['to'], false, null],
    ['a container', ['nested'], false, null],
    ['the value under a masked key, when it is not a secret', ['$airlockMaskedKey1'], false, null],
    ['a masked value asked for as a key', ['password'], true, null],
    ['a path that does not exist', ['nope', 3], false, null],
    ['an index given as a string', ['nested', 'api_keys', '1'], false, null],
    ['a value in an object under a secret key', ['auth', 'basic', 'user'], false, { kind: 'value of "auth"', value: 'ann' }],
    ['the value of a secret-named pair', ['env', 0, 'value'], false, { kind: 'value of "DB_PASSWORD"', value: 'hunter2' }],
    ['the name of that pair', ['env', 0, 'name'], false, null],
  ])('%s', (_name, path, key, expected) => {
    expect(findMaskedSecret(args, path, key)).toEqual(expected);
  });
});

describe('previewArguments (the queue row and its socket.io event)', () => {
  const preview = (value: unknown) => {
    const text = JSON.stringify(value);
    return previewArguments(text, text.length);
  };

  it('masks a secret value and a key that is itself a secret, as the request page does', () => {
    const shown = preview({ to: 'ops@example.com', apiKey: stripeKey, [githubToken]: true });
    expect(shown).toContain('to: "ops@example.com"');
    expect(shown).toContain('apiKey: ••••••');
    expect(shown).toContain('••••••: true');
    expect(shown).not.toContain(stripeKey);
    expect(shown).not.toContain('ghp_');
    expect(shown).not.toContain(MASKED_KEY_PREFIX);
  });

  it('shows nested values only by their shape', () => {
    expect(preview({ headers: { Authorization: 'Bearer abcdefghijklmnopqrstuvwxyz0123' }, ids: [1, 2, 3] })).toBe('headers: {…}, ids: [3]');
  });
});
