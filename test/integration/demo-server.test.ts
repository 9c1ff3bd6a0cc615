import { resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const DEMO_SERVER = resolve(import.meta.dirname, '../../server/demo/server.ts');

/** Connect a fresh client to a fresh demo process, exactly as Airlock's stdio upstream does. */
async function connectDemo(): Promise<Client> {
  const client = new Client({ name: 'demo-server-test', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: ['--import', 'tsx', DEMO_SERVER], stderr: 'inherit' }));
  return client;
}

const call = (client: Client, name: string, args: Record<string, unknown> = {}) =>
  client.callTool({ name, arguments: args }) as Promise<CallToolResult>;

const textOf = (result: CallToolResult) =>
  result.content.map((block) => (block.type === 'text' ? block.text : `[${block.type}]`)).join('\n');

const jsonOf = <T = Record<string, unknown>>(result: CallToolResult) => JSON.parse(textOf(result)) as T;

describe('demo upstream over stdio', () => {
  let client: Client;
  let tools: Map<string, Tool>;

  beforeAll(async () => {
    client = await connectDemo();
    tools = new Map((await client.listTools()).tools.map((tool) => [tool.name, tool]));
  });
  afterAll(() => client?.close());

  it('lists every tool with the annotations it declares', () => {
    const hints = (name: string) => {
      const { readOnlyHint, destructiveHint, idempotentHint, openWorldHint } = tools.get(name)?.annotations ?? {};
      return { readOnlyHint, destructiveHint, idempotentHint, openWorldHint };
    };
    const expected = {
      read_file: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      list_files: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      search_customers: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      get_balance: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      send_email: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
      delete_records: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
      transfer_funds: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
      create_pull_request: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
      write_file: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    };
    expect([...tools.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [name, annotations] of Object.entries(expected)) {
      expect(hints(name), name).toEqual(annotations);
      expect(tools.get(name)?.annotations?.title ?? tools.get(name)?.title, name).toBeTruthy();
    }
  });

  it('describes every input field', () => {
    for (const tool of tools.values()) {
      for (const [field, schema] of Object.entries(tool.inputSchema.properties ?? {})) {
        expect((schema as { description?: string }).description, `${tool.name}.${field}`).toBeTruthy();
      }
    }
    expect(tools.get('transfer_funds')?.inputSchema.required).toEqual(
      expect.arrayContaining(['from_account', 'to_account', 'amount', 'currency']),
    );
  });

  it('reads a file of the fake company drive', async () => {
    const result = await call(client, 'read_file', { path: '/docs/q3-plan.md' });
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toContain('# Q3 plan');

    const missing = await call(client, 'read_file', { path: '/docs/nope.md' });
    expect(missing.isError).toBe(true);
  });

  it('searches customers', async () => {
    const result = jsonOf<{ total: number; customers: { company: string }[] }>(
      await call(client, 'search_customers', { query: 'northwind' }),
    );
    expect(result.customers.map((customer) => customer.company)).toEqual(['Northwind Labs']);
  });

  it('a transfer changes the balances get_balance reports', async () => {
    const balance = async (account: string) => jsonOf<{ balance: number }>(await call(client, 'get_balance', { account })).balance;
    const operating = await balance('ACC-1001');
    const reserve = await balance('ACC-3001');

    const transfer = await call(client, 'transfer_funds', {
      from_account: 'ACC-1001',
      to_account: 'ACC-3001',
      amount: 1250.5,
      currency: 'USD',
      memo: 'top up reserve',
    });
    expect(transfer.isError).toBeFalsy();
    expect(jsonOf(transfer)).toMatchObject({ status: 'completed', from_account: 'ACC-1001', to_account: 'ACC-3001' });

    expect(await balance('ACC-1001')).toBeCloseTo(operating - 1250.5, 2);
    expect(await balance('ACC-3001')).toBeCloseTo(reserve + 1250.5, 2);
  });

  it('rejects a negative amount as invalid input', async () => {
    const result = await call(client, 'transfer_funds', {
      from_account: 'ACC-1001',
      to_account: 'DE89370400440532013000',
      amount: -100,
      currency: 'USD',
    });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/invalid arguments.*amount/is);
  });

  it('refuses a transfer the account cannot cover', async () => {
    const result = await call(client, 'transfer_funds', { from_account: 'ACC-2001', to_account: 'ACC-1001', amount: 10, currency: 'USD' });
    expect(result.isError).toBe(true);
  });

  it('keeps effects consistent within the session', async () => {
    const email = jsonOf<{ message_id: string }>(
      await call(client, 'send_email', { to: 'dana.okafor@kestrel.example', subject: 'Weekly review', body: 'All good.' }),
    );
    expect(textOf(await call(client, 'list_files', { directory: '/outbox' }))).toContain(`/outbox/${email.message_id}.eml`);

    const deleted = jsonOf(await call(client, 'delete_records', { table: 'invoices', filter: { field: 'status', equals: 'overdue' } }));
    expect(deleted).toMatchObject({ deleted_count: 1, deleted: ['INV-2025-0139'] });
    expect(textOf(await call(client, 'read_file', { path: '/finance/invoices.csv' }))).not.toContain('INV-2025-0139');

    expect((await call(client, 'write_file', { path: '/notes/summary.md', content: 'hello' })).isError).toBeFalsy();
    expect(textOf(await call(client, 'read_file', { path: '/notes/summary.md' }))).toBe('hello');
    expect((await call(client, 'write_file', { path: '/notes/summary.md', content: 'again' })).isError).toBe(true);

    const pr = jsonOf(await call(client, 'create_pull_request', { repo: 'kestrel/platform', title: 'Fix', body: '', branch: 'fix/x' }));
    expect(pr).toMatchObject({ status: 'open', base: 'main' });
  });

  it('serves a resource and a prompt', async () => {
    const { resources } = await client.listResources();
    expect(resources.map((resource) => resource.uri)).toContain('demo://handbook');
    const handbook = await client.readResource({ uri: 'demo://handbook' });
    expect(handbook.contents[0]).toMatchObject({ uri: 'demo://handbook', mimeType: 'text/markdown' });

    const { prompts } = await client.listPrompts();
    expect(prompts.map((prompt) => prompt.name)).toContain('weekly_finance_review');
    const prompt = await client.getPrompt({ name: 'weekly_finance_review', arguments: { focus: 'overdue invoices' } });
    expect(JSON.stringify(prompt.messages)).toContain('overdue invoices');
  });

  it('gives every session (process) its own state', async () => {
    const other = await connectDemo();
    try {
      const fresh = jsonOf<{ balance: number }>(await call(other, 'get_balance', { account: 'ACC-1001' }));
      expect(fresh.balance).toBe(182_340.55);
    } finally {
      await other.close();
    }
  });
});
