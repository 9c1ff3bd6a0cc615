import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command, Option } from 'commander';
import { DataDirLockedError, embeddedDatabasePath, openDatabase } from '../../db/client';
import type { Database } from '../../db/database';
import { roles } from '../../db/schema';
import type { AuditActor } from '../audit/append';
import { exportAudit } from '../audit/search';
import { parseCheckpoint, type VerifyResult, verifyAudit, verifyAuditExport } from '../audit/verify';
import { createAgent, listAgents, revokeAgent } from '../auth/agents';
import { createApiToken, listApiTokens, revokeApiToken } from '../auth/api-tokens';
import { createUser, listUsers, resetPassword, setUserDisabled, setUserRole } from '../auth/users';
import { parseInput, ZEmail, ZRole } from '../auth/validation';
import { isAirlockError } from '../lib/errors';
import { callTool } from './call';
import { connect } from './connect';
import { CliError, EXIT_DATABASE_LOCKED, EXIT_FAILURE, EXIT_INTERRUPTED } from './errors';
import { readNewPassword } from './prompt';

/** The longest `call --wait`: a timer counts to about 24 days. */
const MAX_WAIT_MINUTES = 34_000;

/** Who the audit log names for changes made from the command line. */
export const CLI_ACTOR: AuditActor = { type: 'system', id: 'cli' };

const out = (line = '') => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Open the configured database for one command. PostgreSQL can be shared with a running
 * server; the embedded PGlite database cannot, so its lock refuses with exit code 2.
 */
async function withDatabase<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  let db: Database;
  const url = process.env.DATABASE_URL || undefined;
  const dataDir = process.env.AIRLOCK_DATA_DIR || undefined;
  // in the wrong directory, or without DATABASE_URL, a command would quietly work on a new, empty database
  const creating = !url && !existsSync(embeddedDatabasePath(dataDir));
  try {
    db = await openDatabase({
      url,
      migrationUrl: process.env.AIRLOCK_MIGRATION_DATABASE_URL || undefined,
      dataDir,
    });
  } catch (error) {
    if (error instanceof DataDirLockedError)
      throw new CliError(
        EXIT_DATABASE_LOCKED,
        // the error names the directory and the holder's pid; the advice is the CLI's own
        `${error.message.split(';')[0]}: stop the server first, or set DATABASE_URL to a PostgreSQL database the server and the CLI can share`,
      );
    throw new CliError(EXIT_FAILURE, `cannot open the database: ${describe(error)}`);
  }
  if (creating) {
    err(
      `airlock: created a new embedded database in ${dirname(embeddedDatabasePath(dataDir))} (no DATABASE_URL is set; Airlock uses this one when started with the same AIRLOCK_DATA_DIR)`,
    );
  }
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Turn a command's outcome into an exit code and a one-line message; stack traces only for bugs. */
function report(error: unknown): number {
  if (error instanceof CliError) {
    err(`airlock: ${error.message}`);
    return error.exitCode;
  }
  if (isAirlockError(error)) {
    err(`airlock: ${error.message}`);
    return EXIT_FAILURE;
  }
  err(`airlock: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return EXIT_FAILURE;
}

function action<A extends unknown[]>(fn: (...args: A) => Promise<unknown>): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      const code = await fn(...args);
      process.exitCode = typeof code === 'number' ? code : 0;
    } catch (error) {
      process.exitCode = report(error);
    }
  };
}

/** Validate an option before anything slow (a password prompt, opening the database). */
function option<T>(name: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new CliError(EXIT_FAILURE, `invalid ${name}: ${describe(error)}`);
  }
}
const email = (value: string, name = '--email') => option(name, () => parseInput(ZEmail, value));
const role = (value: string) => option('--role', () => parseInput(ZRole, value));

function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  for (const row of [header, ...rows])
    out(
      row
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    );
}

const collect = (value: string, previous: string[]) => [...previous, value];

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The `airlock` command line. */
export function buildProgram(): Command {
  const program = new Command('airlock')
    .description("Airlock: a human approval gateway for AI agents' MCP tool calls")
    .version(version())
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nDatabase: DATABASE_URL (PostgreSQL) when set, otherwise the embedded database in AIRLOCK_DATA_DIR (default .airlock).',
    );
  const roleOption = () => new Option('--role <role>', 'admin, approver or auditor').choices(roles).makeOptionMandatory();

  const user = program.command('user').description('people who review, approve and audit calls');
  user
    .command('add')
    .description('add a user; the password is read from stdin (a piped line, or a hidden prompt)')
    .requiredOption('--email <email>', 'sign-in email')
    .addOption(roleOption())
    .option('--name <name>', 'display name')
    .option('--no-password', 'no password: the user signs in through single sign-on only')
    .action(
      action(async (opts: { email: string; role: string; name?: string; password: boolean }) => {
        const input = { email: email(opts.email), role: role(opts.role), name: opts.name };
        const password = opts.password ? await readNewPassword() : undefined;
        const created = await withDatabase((db) => createUser(db, { ...input, password, actor: CLI_ACTOR }));
        out(`created user ${created.email} (${created.role})`);
      }),
    );
  user
    .command('list')
    .description('list users')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const users = await withDatabase((db) => listUsers(db));
        if (opts.json) return void out(JSON.stringify(users, null, 2));
        table(
          ['EMAIL', 'ROLE', 'STATUS', 'NAME'],
          users.map((u) => [u.email, u.role, u.disabled ? 'disabled' : 'active', u.name ?? '']),
        );
      }),
    );
  user
    .command('set-role')
    .description("change a user's role")
    .requiredOption('--email <email>', 'the user')
    .addOption(roleOption())
    .action(
      action(async (opts: { email: string; role: string }) => {
        const input = { email: email(opts.email), role: role(opts.role) };
        const changed = await withDatabase((db) => setUserRole(db, { ...input, actor: CLI_ACTOR }));
        out(`${changed.email} is now ${changed.role}`);
      }),
    );
  for (const [name, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    user
      .command(name)
      .description(disabled ? 'stop a user from signing in (sessions and API tokens stop working)' : 're-enable a disabled user')
      .requiredOption('--email <email>', 'the user')
      .action(
        action(async (opts: { email: string }) => {
          const target = email(opts.email);
          const changed = await withDatabase((db) => setUserDisabled(db, { email: target, disabled, actor: CLI_ACTOR }));
          out(`${changed.email} is ${changed.disabled ? 'disabled' : 'enabled'}`);
        }),
      );
  }
  user
    .command('reset-password')
    .description("set a user's password, read from stdin like `user add`")
    .requiredOption('--email <email>', 'the user')
    .action(
      action(async (opts: { email: string }) => {
        const target = email(opts.email);
        const password = await readNewPassword();
        await withDatabase((db) => resetPassword(db, { email: target, password, actor: CLI_ACTOR }));
        out(`password of ${target} changed`);
      }),
    );

  const agent = program.command('agent').description('MCP clients allowed to call tools through Airlock');
  agent
    .command('add')
    .description('register an agent and print its token (shown once, on the last line)')
    .requiredOption('--name <name>', 'agent name')
    .requiredOption('--owner <email>', 'the responsible user (who may then not approve its calls)')
    .option('--upstream <name>', 'an upstream it may use (repeatable; default all)', collect, [] as string[])
    .action(
      action(async (opts: { name: string; owner: string; upstream: string[] }) => {
        const ownerEmail = email(opts.owner, '--owner');
        const { agent: created, token } = await withDatabase((db) =>
          createAgent(db, { name: opts.name, ownerEmail, upstreams: opts.upstream, actor: CLI_ACTOR }),
        );
        out(`created agent ${created.name} (owner ${ownerEmail}, upstreams: ${created.upstreams.join(', ') || 'all'})`);
        out('Its token is shown once; the agent sends it as "Authorization: Bearer <token>":');
        out(token);
      }),
    );
  agent
    .command('list')
    .description('list agents')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const agents = await withDatabase((db) => listAgents(db));
        if (opts.json) return void out(JSON.stringify(agents, null, 2));
        table(
          ['NAME', 'OWNER', 'UPSTREAMS', 'STATUS', 'CREATED'],
          agents.map((a) => [
            a.name,
            a.ownerEmail,
            a.upstreams.join(',') || '*',
            a.revokedAt ? 'revoked' : 'active',
            a.createdAt.toISOString(),
          ]),
        );
      }),
    );
  agent
    .command('revoke')
    .description("revoke an agent's token for good")
    .requiredOption('--name <name>', 'agent name')
    .action(
      action(async (opts: { name: string }) => {
        const revoked = await withDatabase((db) => revokeAgent(db, { name: opts.name, actor: CLI_ACTOR }));
        out(`revoked agent ${revoked.name}`);
      }),
    );

  const token = program.command('token').description("personal API tokens (scripts acting as a user, with the user's role)");
  token
    .command('add')
    .description('create a personal API token and print it (shown once, on the last line)')
    .requiredOption('--user <email>', 'the user the token acts as')
    .option('--name <name>', 'a label for the token', 'cli')
    .action(
      action(async (opts: { user: string; name: string }) => {
        const userEmail = email(opts.user, '--user');
        const { token: secret, apiToken } = await withDatabase((db) =>
          createApiToken(db, { userEmail, name: opts.name, actor: CLI_ACTOR }),
        );
        out(`created API token ${apiToken.name} for ${userEmail}`);
        out('It is shown once; send it as "Authorization: Bearer <token>":');
        out(secret);
      }),
    );

  token
    .command('list')
    .description("list personal API tokens (never the tokens themselves): everyone's, or one user's")
    .option('--user <email>', 'only the tokens acting as this user')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { user?: string; json?: boolean }) => {
        const userEmail = opts.user === undefined ? undefined : email(opts.user, '--user');
        const tokens = await withDatabase((db) => listApiTokens(db, { userEmail }));
        if (opts.json) return void out(JSON.stringify(tokens, null, 2));
        table(
          ['ID', 'NAME', 'USER', 'STATUS', 'CREATED', 'LAST USED'],
          tokens.map((t) => [
            t.id,
            t.name,
            t.userEmail,
            t.revokedAt ? 'revoked' : 'active',
            t.createdAt.toISOString(),
            t.lastUsedAt?.toISOString() ?? 'never',
          ]),
        );
      }),
    );
  token
    .command('revoke')
    .description('revoke a personal API token at once (its id is in `token list`)')
    .requiredOption('--id <id>', 'the token id')
    .action(
      action(async (opts: { id: string }) => {
        const revoked = await withDatabase((db) => revokeApiToken(db, { tokenId: opts.id, actor: CLI_ACTOR }));
        out(`revoked API token ${revoked.name} (${revoked.id})`);
      }),
    );

  const audit = program.command('audit').description('the hash-chained audit log');
  audit
    .command('verify')
    .description('check the whole chain (of the database, or of an export); exit 1 naming the first bad row')
    .option('--file <file>', 'verify a file written by `audit export` instead of the database (- for stdin); needs no database')
    .option('--checkpoint <seq:hash>', 'a head printed by an earlier verify: the chain must still pass through it')
    .action(
      action(async (opts: { file?: string; checkpoint?: string }) => {
        const checkpoint = opts.checkpoint === undefined ? undefined : parseCheckpoint(opts.checkpoint);
        if (checkpoint === null) throw new CliError(EXIT_FAILURE, 'invalid --checkpoint: give SEQ:HASH as verify prints it, e.g. 42:3f0c…');
        let result: VerifyResult;
        if (opts.file !== undefined) {
          const input = opts.file === '-' ? process.stdin : createReadStream(opts.file);
          try {
            // readline passes on the stream's errors (a missing file, a directory)
            result = await verifyAuditExport(createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY }), { checkpoint });
          } catch (error) {
            throw new CliError(EXIT_FAILURE, `cannot read ${opts.file}: ${describe(error)}`);
          }
          // what a failed `audit export > file` leaves: not an intact log
          if (result.ok && result.count === 0)
            throw new CliError(EXIT_FAILURE, `no audit events in ${opts.file} (an empty or failed export?)`);
        } else {
          result = await withDatabase((db) => verifyAudit(db.orm, { checkpoint }));
          // Airlock records events from its first start: an empty log is the wrong database, or one wiped
          if (result.ok && result.count === 0)
            throw new CliError(
              EXIT_FAILURE,
              'no audit events in this database (the wrong DATABASE_URL or data directory, or a wiped log?)',
            );
        }
        if (!result.ok) {
          err(`audit chain BROKEN at seq ${result.seq}: ${result.reason} (${result.count} events verified before it)`);
          return EXIT_FAILURE;
        }
        // keep the head: a later verify with --checkpoint catches rows cut off the end, which the chain alone cannot
        out(`audit chain intact: ${result.count} events, head ${result.count}:${result.lastHash}`);
      }),
    );
  audit
    .command('export')
    .description('write the log as JSON lines (verifiable offline), to stdout or a file')
    .option('--out <file>', 'write to this file (created with mode 0600) instead of stdout')
    .action(
      action(async (opts: { out?: string }) => {
        let count = 0;
        await withDatabase(async (db) => {
          const lines = Readable.from(
            (async function* () {
              for await (const line of exportAudit(db.orm)) {
                count += 1;
                yield line;
              }
            })(),
          );
          if (opts.out) return pipeline(lines, createWriteStream(opts.out, { mode: 0o600 }));
          // a reader that stops early (`| head`) is not an error
          await pipeline(lines, process.stdout, { end: false }).catch((error: NodeJS.ErrnoException) => {
            if (error.code !== 'EPIPE') throw error;
          });
        });
        if (opts.out) err(`exported ${count} audit events to ${opts.out}`);
      }),
    );

  program
    .command('connect')
    .description('bridge a stdio-only MCP host to the Airlock gateway (stdout carries only JSON-RPC)')
    .argument('<upstream>', 'the upstream to reach, as in /mcp/<upstream>')
    .option('--url <url>', 'Airlock base URL (or AIRLOCK_URL)', process.env.AIRLOCK_URL)
    .option('--token <token>', 'agent token (or AIRLOCK_TOKEN, which keeps it out of `ps`)')
    .action(
      action(async (upstream: string, opts: { url?: string; token?: string }) => {
        const input = { upstream, url: opts.url ?? '', token: opts.token ?? process.env.AIRLOCK_TOKEN ?? '' };
        let bridge: ReturnType<typeof connect>;
        try {
          bridge = connect(input);
        } catch (error) {
          const issues = (error as { issues?: { message: string }[] }).issues;
          throw new CliError(EXIT_FAILURE, issues ? issues.map((i) => i.message).join('; ') : describe(error));
        }
        for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void bridge.stop());
        return bridge.done;
      }),
    );

  program
    .command('call')
    .description('call one tool through the gateway as an agent, waiting while it is held (try rules and the demo)')
    .argument('<upstream>', 'the upstream, as in /mcp/<upstream>')
    .argument('<tool>', 'the tool to call')
    .argument('[arguments]', 'the arguments as a JSON object', '{}')
    .option('--url <url>', 'Airlock base URL (or AIRLOCK_URL)', process.env.AIRLOCK_URL ?? 'http://localhost:3000')
    .option('--token <token>', 'agent token (or AIRLOCK_TOKEN)')
    .option('--wait <minutes>', 'longest wait for a decision', '15')
    .action(
      action(async (upstream: string, tool: string, json: string, opts: { url: string; token?: string; wait: string }) => {
        let args: unknown;
        try {
          args = JSON.parse(json);
        } catch {
          throw new CliError(EXIT_FAILURE, 'the arguments must be a JSON object, e.g. \'{"path": "/docs/q3-plan.md"}\'');
        }
        const minutes = Number(opts.wait);
        if (!(minutes > 0 && minutes <= MAX_WAIT_MINUTES)) {
          throw new CliError(EXIT_FAILURE, `invalid --wait: give minutes, more than 0 and at most ${MAX_WAIT_MINUTES}`);
        }
        // Ctrl-C (or SIGTERM) cancels the call and ends the session before the CLI exits
        const interrupt = new AbortController();
        const onSignal = () => interrupt.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        let result: Awaited<ReturnType<typeof callTool>>;
        try {
          result = await callTool(
            {
              upstream,
              tool,
              arguments: args as Record<string, unknown>,
              url: opts.url,
              token: opts.token ?? process.env.AIRLOCK_TOKEN ?? '',
              timeoutMs: Math.round(minutes * 60_000),
            },
            err,
            interrupt.signal,
          );
        } catch (error) {
          if (interrupt.signal.aborted) throw new CliError(EXIT_INTERRUPTED, describe(error));
          const issues = (error as { issues?: { message: string }[] }).issues;
          throw new CliError(EXIT_FAILURE, issues ? issues.map((i) => i.message).join('; ') : describe(error));
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        const content = (result.content ?? []) as { type: string; text?: string }[];
        for (const item of content) out(item.type === 'text' ? (item.text ?? '') : JSON.stringify(item));
        // a denied, expired or failed call: scripts must tell it from a result
        return result.isError ? EXIT_FAILURE : 0;
      }),
    );

  return program;
}

/** Run the CLI; resolves when the command is done, with `process.exitCode` set. */
export async function main(argv: string[] = process.argv): Promise<void> {
  await buildProgram().parseAsync(argv);
}
