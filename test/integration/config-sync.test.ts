import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, upstreams } from '../../db/schema';
import type { UpstreamConfig } from '../../server/config/schema';
import { syncUpstreams } from '../../server/config/sync';
import { digest } from '../../server/lib/digest';
import { backends, openTestDatabase, type TestDatabase } from '../helpers/db';

describe.each(backends())('upstreams synced from the config on %s', (backend) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await openTestDatabase(backend);
  });
  afterAll(() => t?.close());

  const api = (token: string): UpstreamConfig =>
    ({
      transport: 'http',
      url: 'https://mcp.example.com/mcp',
      headers: { Authorization: `Bearer ${token}` },
      shared: false,
    }) as UpstreamConfig;
  const events = async () =>
    (await t.database.orm.select().from(auditEvents)).filter((e) => e.type.startsWith('upstream.')).map((e) => [e.type, e.payload]);

  it('records additions and changes with secrets masked, and nothing an auditor could test a guessed secret against', async () => {
    await syncUpstreams(t.database, { api: api('Winter2024!') });
    await syncUpstreams(t.database, { api: api('Winter2024!') });
    await syncUpstreams(t.database, { api: api('Spring2025!') });
    const recorded = await events();
    expect(recorded).toEqual([
      ['upstream.created', { name: 'api', config: expect.objectContaining({ headers: { Authorization: '***' } }) }],
      ['upstream.updated', expect.objectContaining({ name: 'api', onlyMaskedValuesChanged: true })],
    ]);
    // neither value, nor an unsalted digest of either declaration, is in the log
    const text = JSON.stringify(recorded);
    for (const token of ['Winter2024!', 'Spring2025!']) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(digest(api(token)));
    }
    // the row keeps a salted hash, of the current declaration
    const [row] = await t.database.orm.select().from(upstreams).where(eq(upstreams.name, 'api'));
    expect(row.configHash).toMatch(/^[0-9a-f]{32}:[0-9a-f]{64}$/);
    expect(row.configHash).not.toContain(digest(api('Spring2025!')));
  });

  it('takes a hash from before salting for the same declaration, recording nothing', async () => {
    await t.database.orm
      .update(upstreams)
      .set({ configHash: digest(api('Spring2025!')) })
      .where(eq(upstreams.name, 'api'));
    const before = (await events()).length;
    await syncUpstreams(t.database, { api: api('Spring2025!') });
    expect(await events()).toHaveLength(before);
    const [row] = await t.database.orm.select().from(upstreams).where(eq(upstreams.name, 'api'));
    expect(row.configHash).toMatch(/^[0-9a-f]{32}:/);
  });

  it('lets instances that start together record a new upstream once, neither failing', async () => {
    for (let round = 0; round < 5; round++) {
      const declared = { api: api('Spring2025!'), [`new-${round}`]: api(`new ${round}`) };
      await Promise.all([syncUpstreams(t.database, declared), syncUpstreams(t.database, declared)]);
      const created = (await events()).filter(
        ([type, payload]) => type === 'upstream.created' && (payload as { name: string }).name === `new-${round}`,
      );
      expect(created).toHaveLength(1);
    }
  });
});
