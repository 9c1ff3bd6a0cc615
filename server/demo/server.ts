/**
 * The built-in `demo` upstream: an MCP server over stdio for a fictional company (Kestrel Analytics),
 * offline and in memory, so the approval gateway can be shown without any real system behind it.
 *
 *   node --import tsx server/demo/server.ts
 *
 * Four read-only tools and five risky ones, each with honest annotations, plus one resource and one prompt.
 * State lives in this process. Airlock runs one for every session (`shared: true`), so changes are
 * the company's (a transfer moves money that get_balance then reports, in any session) until
 * it restarts (with Airlock, or after it exits); a client that starts the server itself gets a company of its own.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { type Account, type Customer, createDemoState, HANDBOOK, INVOICES_CSV_PATH, type Invoice, invoicesCsv } from './data';

const state = createDemoState();
const now = () => new Date().toISOString();
const nextId = (prefix: string) => `${prefix}_${String(++state.sequence).padStart(4, '0')}${randomBytes(3).toString('hex')}`;

const text = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] });
const json = (value: unknown): CallToolResult => text(JSON.stringify(value, null, 2));
/** A tool error the model can read and act on (not a protocol error). */
const failure = (message: string): CallToolResult => ({ content: [{ type: 'text', text: message }], isError: true });

const formatMoney = (cents: number, currency: string) =>
  `${(cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${currency}`;

/** Absolute, normalized path, or undefined when it escapes the root. */
function normalizePath(path: string): string | undefined {
  if (!path.startsWith('/')) return undefined;
  const normalized = posix.normalize(path);
  return normalized.length > 1 && normalized.endsWith('/') ? normalized.slice(0, -1) : normalized;
}

function readFile(path: string): string | undefined {
  if (path === INVOICES_CSV_PATH) return invoicesCsv(state.invoices);
  return state.files.get(path)?.content;
}

const server = new McpServer(
  { name: 'airlock-demo', title: 'Kestrel Analytics (Airlock demo)', version: '1.0.0' },
  {
    instructions:
      'Tools of Kestrel Analytics, a small analytics company: its files, CRM, bank accounts, email and code review. ' +
      'Read-only tools run at once; sending email, moving money, deleting records, writing files and opening pull ' +
      'requests may wait for a person to approve them.',
  },
);

// ---- read-only ----

server.registerTool(
  'read_file',
  {
    title: 'Read file',
    description: 'Read a text file from the company shared drive, e.g. /docs/q3-plan.md or /finance/invoices.csv.',
    inputSchema: { path: z.string().min(1).describe('Absolute path of the file, e.g. /docs/q3-plan.md') },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  },
  async ({ path }) => {
    const normalized = normalizePath(path);
    const content = normalized && readFile(normalized);
    if (content === undefined) return failure(`No such file: ${path}. Use list_files to see what exists.`);
    return text(content);
  },
);

server.registerTool(
  'list_files',
  {
    title: 'List files',
    description: 'List the files under a directory of the shared drive (recursively), with size and last change.',
    inputSchema: { directory: z.string().default('/').describe('Absolute directory path; "/" lists everything') },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  },
  async ({ directory }) => {
    const root = normalizePath(directory);
    if (!root) return failure(`Not an absolute path: ${directory}`);
    const prefix = root === '/' ? '/' : `${root}/`;
    const entries = [...state.files.entries()]
      .filter(([path]) => path.startsWith(prefix))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([path, file]) => `${path}\t${Buffer.byteLength(readFile(path) ?? file.content)} bytes\tmodified ${file.modified}`);
    if (entries.length === 0) return text(`No files under ${root}`);
    return text(entries.join('\n'));
  },
);

server.registerTool(
  'search_customers',
  {
    title: 'Search customers',
    description: 'Search CRM customer records by name, company or email (case-insensitive substring).',
    inputSchema: {
      query: z.string().describe('Text to look for in name, company or email; empty matches everyone'),
      status: z.enum(['active', 'trial', 'churned']).optional().describe('Only customers with this status'),
      limit: z.number().int().min(1).max(50).default(10).describe('Maximum number of records to return'),
    },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  },
  async ({ query, status, limit }) => {
    const needle = query.trim().toLowerCase();
    const matches = state.customers.filter(
      (customer) =>
        (!status || customer.status === status) &&
        [customer.name, customer.company, customer.email].some((field) => field.toLowerCase().includes(needle)),
    );
    return json({ total: matches.length, customers: matches.slice(0, limit) });
  },
);

server.registerTool(
  'get_balance',
  {
    title: 'Get account balance',
    description:
      'Current balance of one of the company bank accounts (ACC-1001 Operating, ACC-1002 Payroll, ACC-2001 EU Operations, ACC-3001 Reserve).',
    inputSchema: { account: z.string().describe('Account id, e.g. ACC-1001') },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  },
  async ({ account }) => {
    const found = state.accounts.get(account.trim().toUpperCase());
    if (!found) return failure(`Unknown account ${account}. Accounts: ${[...state.accounts.keys()].join(', ')}`);
    return json({
      account: found.id,
      name: found.name,
      currency: found.currency,
      balance: found.balanceCents / 100,
      formatted: formatMoney(found.balanceCents, found.currency),
    });
  },
);

// ---- risky ----

server.registerTool(
  'send_email',
  {
    title: 'Send email',
    description: 'Send an email from ops@kestrel.example to anyone, inside or outside the company.',
    inputSchema: {
      to: z.email().describe('Recipient address'),
      subject: z.string().min(1).max(200).describe('Subject line'),
      body: z.string().min(1).max(20_000).describe('Plain-text body'),
      cc: z.array(z.email()).max(10).optional().describe('Addresses to copy'),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  },
  async ({ to, subject, body, cc }) => {
    const messageId = nextId('msg');
    const headers = [
      `From: ops@kestrel.example`,
      `To: ${to}`,
      ...(cc?.length ? [`Cc: ${cc.join(', ')}`] : []),
      `Subject: ${subject}`,
      `Message-ID: <${messageId}@kestrel.example>`,
    ];
    state.files.set(`/outbox/${messageId}.eml`, { content: `${headers.join('\n')}\n\n${body}\n`, modified: now() });
    return json({ status: 'sent', message_id: messageId, to, cc: cc ?? [], subject });
  },
);

const ZFilter = z
  .object({
    field: z.string().describe('Column to match, e.g. status or customer_id'),
    equals: z.union([z.string(), z.number()]).describe('Value the column must equal'),
  })
  .describe('Delete every record whose field equals the value');

server.registerTool(
  'delete_records',
  {
    title: 'Delete records',
    description: 'Permanently delete CRM customers or invoices, by id or by a field filter. Give exactly one of ids or filter.',
    inputSchema: {
      table: z.enum(['customers', 'invoices']).describe('Table to delete from'),
      ids: z.array(z.string()).min(1).max(100).optional().describe('Ids of the records to delete, e.g. ["CUS-005"]'),
      filter: ZFilter.optional(),
    },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  },
  async ({ table, ids, filter }) => {
    if ((ids === undefined) === (filter === undefined)) return failure('Give exactly one of ids or filter.');
    const rows: (Customer | Invoice)[] = table === 'customers' ? state.customers : state.invoices;
    if (filter && rows.length > 0 && !(filter.field in rows[0])) {
      return failure(`Unknown field ${filter.field} in ${table}. Fields: ${Object.keys(rows[0]).join(', ')}`);
    }
    const doomed = (row: Customer | Invoice) =>
      filter ? String(row[filter.field as keyof typeof row]) === String(filter.equals) : (ids ?? []).includes(row.id);
    const deleted = rows.filter(doomed).map((row) => row.id);
    if (table === 'customers') state.customers = state.customers.filter((row) => !doomed(row));
    else state.invoices = state.invoices.filter((row) => !doomed(row));
    const csv = state.files.get(INVOICES_CSV_PATH);
    if (csv && table === 'invoices' && deleted.length > 0) csv.modified = now();
    const missing = ids?.filter((id) => !deleted.includes(id)) ?? [];
    return json({ table, deleted_count: deleted.length, deleted, ...(missing.length ? { not_found: missing } : {}) });
  },
);

server.registerTool(
  'transfer_funds',
  {
    title: 'Transfer funds',
    description:
      'Move money from a company account to another company account or to an external payee (IBAN or account number). Cannot be undone.',
    inputSchema: {
      from_account: z.string().describe('Company account to debit, e.g. ACC-1001'),
      to_account: z.string().min(1).describe('Company account (ACC-…) or external IBAN / account number to credit'),
      amount: z.number().positive().describe('Amount in the currency below, at most 2 decimals'),
      currency: z.enum(['USD', 'EUR', 'GBP']).describe('Currency of the amount; must match the debited account'),
      memo: z.string().max(140).optional().describe('Reference shown to the payee, e.g. an invoice number'),
    },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  },
  async ({ from_account, to_account, amount, currency, memo }) => {
    const from = state.accounts.get(from_account.trim().toUpperCase());
    if (!from) return failure(`Unknown source account ${from_account}. Accounts: ${[...state.accounts.keys()].join(', ')}`);
    const cents = Math.round(amount * 100);
    if (Math.abs(cents - amount * 100) > 1e-6) return failure(`Amount ${amount} has more than 2 decimals.`);
    if (currency !== from.currency) return failure(`${from.id} holds ${from.currency}; cannot send ${currency} from it.`);
    if (cents > from.balanceCents) return failure(`Insufficient funds: ${from.id} has ${formatMoney(from.balanceCents, from.currency)}.`);
    const to: Account | undefined = state.accounts.get(to_account.trim().toUpperCase());
    if (to?.id === from.id) return failure('Source and destination are the same account.');
    if (to && to.currency !== currency) return failure(`${to.id} holds ${to.currency}; cannot credit ${currency} to it.`);
    from.balanceCents -= cents;
    if (to) to.balanceCents += cents;
    return json({
      status: 'completed',
      transfer_id: nextId('tr'),
      from_account: from.id,
      to_account: to?.id ?? to_account,
      external: !to,
      amount: formatMoney(cents, currency),
      memo: memo ?? null,
      new_balance: formatMoney(from.balanceCents, from.currency),
    });
  },
);

let pullRequestNumber = 481;
server.registerTool(
  'create_pull_request',
  {
    title: 'Create pull request',
    description: 'Open a pull request on the company Git host (git.kestrel.example) from a branch into the base branch.',
    inputSchema: {
      repo: z
        .string()
        .regex(/^[\w.-]+\/[\w.-]+$/, 'owner/name')
        .describe('Repository as owner/name, e.g. kestrel/platform'),
      title: z.string().min(1).max(200).describe('Pull request title'),
      body: z.string().max(20_000).describe('Description in Markdown'),
      branch: z.string().min(1).describe('Branch with the changes'),
      base: z.string().default('main').describe('Branch to merge into'),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  },
  async ({ repo, title, branch, base }) => {
    if (branch === base) return failure(`Branch and base are both ${base}.`);
    const number = ++pullRequestNumber;
    return json({ status: 'open', number, url: `https://git.kestrel.example/${repo}/pull/${number}`, title, head: branch, base });
  },
);

server.registerTool(
  'write_file',
  {
    title: 'Write file',
    description: 'Create a new text file on the shared drive. Never overwrites: writing to an existing path fails.',
    inputSchema: {
      path: z.string().min(2).describe('Absolute path of the new file, e.g. /notes/summary.md'),
      content: z.string().max(100_000).describe('Full text content'),
    },
    // additive only (it refuses to overwrite), hence not destructive
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  },
  async ({ path, content }) => {
    const normalized = normalizePath(path);
    if (!normalized || normalized === '/') return failure(`Not a file path: ${path}`);
    if (readFile(normalized) !== undefined) return failure(`${normalized} already exists; choose a new path.`);
    const paths = [...state.files.keys()];
    if (paths.some((existing) => existing.startsWith(`${normalized}/`))) return failure(`${normalized} is a directory.`);
    const parentFile = paths.find((existing) => normalized.startsWith(`${existing}/`));
    if (parentFile) return failure(`${parentFile} is a file, not a directory.`);
    state.files.set(normalized, { content, modified: now() });
    return json({ status: 'created', path: normalized, bytes: Buffer.byteLength(content) });
  },
);

// ---- resource and prompt ----

server.registerResource(
  'handbook',
  'demo://handbook',
  { title: 'Employee handbook', description: 'Company rules for money, customer data, code and email', mimeType: 'text/markdown' },
  async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/markdown', text: HANDBOOK }] }),
);

server.registerPrompt(
  'weekly_finance_review',
  {
    title: 'Weekly finance review',
    description: 'Review balances and open invoices, then draft the weekly note to the CFO',
    argsSchema: { focus: z.string().optional().describe('Something to look at closely, e.g. "overdue invoices"') },
  },
  async ({ focus }) => ({
    messages: [
      {
        role: 'user',
        content: {
          type: 'text',
          text:
            'Do the weekly finance review for Kestrel Analytics. Check the balance of every account, read ' +
            '/finance/invoices.csv and the latest leadership notes, follow the rules in demo://handbook, and send ' +
            `a short summary to dana.okafor@kestrel.example.${focus ? ` Pay particular attention to: ${focus}.` : ''}`,
        },
      },
    ],
  }),
);

await server.connect(new StdioServerTransport());
