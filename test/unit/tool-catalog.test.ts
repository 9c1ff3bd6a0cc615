import type { JSONRPCMessage, Tool } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { ToolCatalog } from '../../server/gateway/tools';

/** An upstream whose tools/list answers wait until the test releases them, one by one. */
function slowUpstream() {
  const waiting: { release: (tools: Tool[]) => void }[] = [];
  const request = () =>
    new Promise<JSONRPCMessage>((resolve) => {
      waiting.push({ release: (tools) => resolve({ jsonrpc: '2.0', id: 1, result: { tools } }) });
    });
  return { request, waiting };
}

const pay = (description: string): Tool => ({ name: 'pay', description, inputSchema: { type: 'object' } });
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('ToolCatalog', () => {
  it('reads the list again when list_changed arrives during a read, and serves only the new definition', async () => {
    const upstream = slowUpstream();
    const catalog = new ToolCatalog(upstream.request);
    const found = catalog.find('pay');
    await tick();
    expect(upstream.waiting).toHaveLength(1);
    // the upstream changes the tool and says so before its answer to the first read arrives
    catalog.invalidate();
    upstream.waiting[0].release([pay('old')]);
    await tick();
    expect(upstream.waiting).toHaveLength(2);
    upstream.waiting[1].release([pay('new')]);
    expect((await found)?.description).toBe('new');
    // a drift check that joined the same read sees the new one too
    await catalog.refresh(100);
    expect((await catalog.find('pay'))?.description).toBe('new');
    expect(upstream.waiting).toHaveLength(2);
  });

  it('fails closed when the list changes during every read', async () => {
    const upstream = slowUpstream();
    const catalog = new ToolCatalog(upstream.request);
    const found = catalog.find('pay').then(
      () => 'found',
      (error: Error) => error.message,
    );
    for (let read = 0; read < 6; read++) {
      await tick();
      catalog.invalidate();
      upstream.waiting[read].release([pay(`v${read}`)]);
    }
    expect(await found).toBe('the tool list changed during each of 6 reads');
    // the next look-up reads again, and a quiet read serves
    const again = catalog.find('pay');
    await tick();
    upstream.waiting[6].release([pay('settled')]);
    expect((await again)?.description).toBe('settled');
  });
});
