import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide } from '../../server/approvals/decide';
import { callText, eventually, type Person, root, startTestAirlock, type TestAirlock } from '../helpers/airlock';
import { backends } from '../helpers/db';

const everything = join(root, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const filesystem = join(root, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');

describe.each(backends())('reference MCP servers behind Airlock on %s', (backend) => {
  let h: TestAirlock;
  let reviewer: Person;
  let token: string;
  let files: string;

  beforeAll(async () => {
    files = mkdtempSync(join(tmpdir(), 'airlock-fs-'));
    writeFileSync(join(files, 'notes.txt'), 'quarterly numbers\n');
    h = await startTestAirlock(backend, {
      upstreams: {
        everything: { transport: 'stdio', command: process.execPath, args: [everything, 'stdio'] },
        filesystem: { transport: 'stdio', command: process.execPath, args: [filesystem, files] },
      },
    });
    const owner = await h.person('approver');
    reviewer = await h.person('approver');
    token = await h.agent(owner.email);
  });
  afterAll(async () => {
    await h?.close();
    rmSync(files, { recursive: true, force: true });
  });

  async function approveWhenHeld(tool: string): Promise<void> {
    const request = await h.pending({ tool });
    await decide(h.t.database, { requestId: request.id, user: { id: reviewer.id }, decision: 'approve' });
  }

  it('server-filesystem: reads pass, a write is held and runs once approved', async () => {
    const client = await h.connect(token, 'filesystem');
    const read = await client.callTool({ name: 'read_text_file', arguments: { path: join(files, 'notes.txt') } });
    expect(callText(read)).toContain('quarterly numbers');

    const target = join(files, 'approved.txt');
    const write = client.callTool({ name: 'write_file', arguments: { path: target, content: 'written after approval' } });
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(target)).toBe(false);
    await approveWhenHeld('write_file');
    await write;
    expect(readFileSync(target, 'utf8')).toBe('written after approval');
  });

  it('server-everything: resources, prompts, logging, ping and pagination pass unchanged', async () => {
    const client = await h.connect(token, 'everything');
    await client.ping();
    const first = await client.listResources();
    expect(first.resources.length).toBeGreaterThan(0);
    if (first.nextCursor) {
      const second = await client.listResources({ cursor: first.nextCursor });
      expect(second.resources[0]?.uri).not.toBe(first.resources[0]?.uri);
    }
    const read = await client.readResource({ uri: first.resources[0].uri });
    expect(read.contents.length).toBeGreaterThan(0);
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name).length).toBeGreaterThan(0);
    const templates = await client.listResourceTemplates();
    expect(templates.resourceTemplates.length).toBeGreaterThan(0);
    await client.setLoggingLevel('info');
    const echo = await client.callTool({ name: 'echo', arguments: { message: 'through the gateway' } });
    expect(callText(echo)).toContain('through the gateway');
  });

  it('server-everything: a held call that asks the agent for sampling gets its answer through Airlock', async () => {
    const client = new Client(
      { name: 'sampling-agent', version: '1.0.0' },
      { capabilities: { sampling: {}, roots: { listChanged: true } } },
    );
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => ({
      role: 'assistant',
      model: 'test-model',
      content: { type: 'text', text: `sampled: ${JSON.stringify(request.params.messages[0].content)}` },
    }));
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///agent-root', name: 'agent root' }] }));
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${h.url}/mcp/everything`), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    try {
      const { tools } = await eventually(async () => {
        const listed = await client.listTools();
        return listed.tools.some((t) => t.name === 'trigger-sampling-request') && listed;
      });
      expect(tools.map((t) => t.name)).toContain('get-roots-list');
      const roots = await client.callTool({ name: 'get-roots-list', arguments: {} });
      expect(callText(roots)).toContain('file:///agent-root');

      const call = client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hello', maxTokens: 10 } });
      await approveWhenHeld('trigger-sampling-request');
      expect(callText(await call)).toContain('sampled:');
    } finally {
      await client.close();
    }
  });
});
