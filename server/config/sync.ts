import { randomBytes } from 'node:crypto';
import { desc, eq, sql } from 'drizzle-orm';
import type { Database } from '../../db/database';
import { auditEvents, upstreams } from '../../db/schema';
import { type AuditInput, appendAudit } from '../audit/append';
import { digest } from '../lib/digest';
import { classifySecret } from '../lib/inspect';
import type { Rule } from '../policy/types';
import type { UpstreamConfig } from './schema';

const MASK = '***';
const CONFIG_SYNC_LOCK = 0x636f6e66; // "conf"

/** Whether a percent-encoded part of a URL (user name, path segment) is shaped like a secret. */
function isSecretPart(part: string): boolean {
  let decoded = part;
  try {
    decoded = decodeURIComponent(part);
  } catch {
    // not valid percent-encoding: judge it as written
  }
  return classifySecret(null, decoded) !== null;
}

/**
 * An upstream declaration as the database, the audit log and the console keep it: env and
 * header values, a URL's password, query values, user name (`https://<token>@host`) and
 * path segments shaped like a secret (`/mcp/<key>/sse`), and command-line arguments that are
 * secrets by their name (`--token x`, `--api-key=x`, `PASSWORD=x`) or their shape (a token,
 * a URL with a password), as `classifySecret` judges them everywhere else, masked.
 */
export function redactUpstream(config: UpstreamConfig): UpstreamConfig {
  const mask = (values: Record<string, string>) => Object.fromEntries(Object.keys(values).map((key) => [key, MASK]));
  const redacted: UpstreamConfig =
    config.transport === 'stdio' ? { ...config, env: mask(config.env) } : { ...config, headers: mask(config.headers) };
  if (redacted.transport === 'http') {
    try {
      const url = new URL(redacted.url);
      // a user name alone is how a token rides in a URL (`https://<token>@host`); beside a password, only a token-shaped one
      if (url.username && (!url.password || isSecretPart(url.username))) url.username = MASK;
      if (url.password) url.password = MASK;
      for (const key of [...url.searchParams.keys()]) url.searchParams.set(key, MASK);
      url.pathname = url.pathname
        .split('/')
        .map((segment) => (isSecretPart(segment) ? MASK : segment))
        .join('/');
      return { ...redacted, url: url.toString() };
    } catch {
      return { ...redacted, url: MASK };
    }
  }
  const flagName = (flag: string) => flag.replace(/^-+/, '');
  const args = redacted.args.map((arg, index) => {
    const eq = arg.indexOf('=');
    if (eq > 0 && classifySecret(flagName(arg.slice(0, eq)), arg.slice(eq + 1))) return `${arg.slice(0, eq)}=${MASK}`;
    const previous = index > 0 ? redacted.args[index - 1] : '';
    const named = previous.startsWith('-') && !previous.includes('=') && !arg.startsWith('-') ? flagName(previous) : null;
    return classifySecret(named, arg) ? MASK : arg;
  });
  return { ...redacted, args };
}

/**
 * The change detector of a declaration, secrets included: `salt:digest`, salted at random so
 * that nobody can test guesses of a masked secret against it. It stays in the upstreams row,
 * never in the audit log (invariant 8).
 */
function configHashOf(config: UpstreamConfig, salt = randomBytes(16).toString('hex')): string {
  return `${salt}:${digest({ salt, config })}`;
}

/** Whether a stored hash is of this declaration (a hash without a salt predates salting). */
function sameConfig(stored: string, config: UpstreamConfig): boolean {
  const colon = stored.indexOf(':');
  return colon < 0 ? stored === digest(config) : stored === configHashOf(config, stored.slice(0, colon));
}

/**
 * Store the configured upstreams in the database, auditing every addition, change and
 * removal (invariant 5). A change to masked values only (a credential) is recorded as such,
 * without the values or anything derived from them.
 */
export async function syncUpstreams(database: Database, declared: Readonly<Record<string, UpstreamConfig>>): Promise<void> {
  await database.orm.transaction(async (tx) => {
    // instances starting together on one PostgreSQL take turns: read, then write, never both inserting one row
    await tx.execute(sql`select pg_advisory_xact_lock(${CONFIG_SYNC_LOCK})`);
    const stored = new Map((await tx.select().from(upstreams)).map((row) => [row.name, row]));
    const actor = { type: 'system' as const, id: 'config' };
    const events: AuditInput[] = [];
    for (const [name, config] of Object.entries(declared)) {
      const existing = stored.get(name);
      stored.delete(name);
      if (existing && sameConfig(existing.configHash, config)) {
        // unchanged; a hash from before salting is salted, which changes nothing to record
        if (!existing.configHash.includes(':')) {
          await tx
            .update(upstreams)
            .set({ configHash: configHashOf(config) })
            .where(eq(upstreams.name, name));
        }
        continue;
      }
      const values = { config: redactUpstream(config), configHash: configHashOf(config), updatedAt: new Date() };
      if (existing) await tx.update(upstreams).set(values).where(eq(upstreams.name, name));
      else await tx.insert(upstreams).values({ name, ...values });
      events.push({
        type: existing ? 'upstream.updated' : 'upstream.created',
        actor,
        payload: {
          name,
          config: values.config,
          ...(existing ? { onlyMaskedValuesChanged: digest(existing.config) === digest(values.config) } : {}),
        },
      });
    }
    for (const name of stored.keys()) {
      await tx.delete(upstreams).where(eq(upstreams.name, name));
      events.push({ type: 'upstream.removed', actor, payload: { name } });
    }
    // appended last: a row locked after the audit chain's lock could deadlock with a process recording a tool list
    await appendAudit(tx, events);
  });
}

/** Audit the policy in force when it differs from the last one recorded ("change of policy"). */
export async function syncPolicy(database: Database, rules: readonly Rule[]): Promise<void> {
  const hash = digest(rules);
  await database.orm.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${CONFIG_SYNC_LOCK})`);
    const [last] = await tx
      .select({ payload: auditEvents.payload })
      .from(auditEvents)
      .where(eq(auditEvents.type, 'policy.changed'))
      .orderBy(desc(auditEvents.seq))
      .limit(1);
    if ((last?.payload as { hash?: string } | undefined)?.hash === hash) return;
    await appendAudit(tx, { type: 'policy.changed', actor: { type: 'system', id: 'config' }, payload: { hash, rules } });
  });
}
