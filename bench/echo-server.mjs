// Upstream MCP server for the benchmark: stdio, two tools that return their input as text.
//   echo        – allowed by the benchmark's policy
//   echo_risky  – held for approval by the benchmark's policy
// Plain ESM JavaScript on purpose: started with `node bench/echo-server.mjs` (no tsx hook), so
// spawning one per MCP session costs the same on all three paths and as little as possible.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'airlock-bench-echo', version: '1.0.0' });
const input = { message: z.string().describe('Text to send back') };
const echo = async ({ message }) => ({ content: [{ type: 'text', text: message }] });

server.registerTool('echo', { description: 'Return the message unchanged', inputSchema: input }, echo);
server.registerTool(
  'echo_risky',
  { description: 'Return the message unchanged (needs approval in the benchmark)', inputSchema: input },
  echo,
);

await server.connect(new StdioServerTransport());
