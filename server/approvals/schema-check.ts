import { createContext, Script } from 'node:vm';
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { digest } from '../lib/digest';

/**
 * Checking a held call's arguments against the tool's own `inputSchema`, so a reviewer sees
 * "/amount must be >= 0" next to the value. The schema comes from an upstream server we do
 * not trust and the arguments from an agent that may be prompt-injected: a schema that does
 * not compile is reported, never thrown, and every validation runs under a time limit, so a
 * hostile `pattern` (`(a+)+$`, or an unanchored `a*b` over 1 MB) or `uniqueItems` over a
 * huge array cannot stall the one Node process that also runs the gateway.
 */

/**
 * One violation: a JSON Pointer into the arguments (`''` for the whole) and what is wrong
 * there, read together as "/amount must be >= 0" (`${path || '/'} ${message}`).
 */
export type SchemaViolation = { path: string; message: string };

/** Longest one validation may run; a legitimate 1 MB argument takes well under 100 ms. */
const TIME_LIMIT_MS = 1000;
/** Arguments above this size (JSON characters) get the first violation only: collecting all could allocate one error per array item. */
const ALL_ERRORS_LIMIT = 256_000;
const MAX_VIOLATIONS = 100;
const CACHE_SIZE = 256;

type Dialect = '2020-12' | '2019-09' | 'draft-07';
type Compiled = { quick: ValidateFunction; all: () => ValidateFunction } | { invalid: string };

class TimeLimitError extends Error {}

// A regular expression cannot be interrupted from JavaScript, but a vm script's timeout
// terminates whatever runs inside it, including the validator and the patterns it calls.
const sandbox = createContext({ validate: null as ValidateFunction | null, data: null as unknown });
const runValidate = new Script('validate(data)');

function validateWithin(validate: ValidateFunction, data: unknown): boolean {
  sandbox.validate = validate;
  sandbox.data = data;
  try {
    return runValidate.runInContext(sandbox, { timeout: TIME_LIMIT_MS }) === true;
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw new TimeLimitError();
    throw error;
  } finally {
    // do not keep a 1 MB argument alive between checks
    sandbox.validate = null;
    sandbox.data = null;
  }
}

/** Many real-world patterns are valid only without the `u` flag (`[\w-.]`): accept them rather than call the whole schema invalid. */
function compatibleRegExp(pattern: string, flags: string): RegExp {
  try {
    return new RegExp(pattern, flags);
  } catch {
    return new RegExp(pattern);
  }
}
compatibleRegExp.code = 'compatibleRegExp';

const options: Options = {
  allErrors: true,
  strict: false,
  // formats need ajv-formats; unknown formats are ignored rather than logged
  validateFormats: false,
  logger: false,
  code: { regExp: compatibleRegExp },
};

function newAjv(dialect: Dialect, allErrors: boolean): Ajv {
  const opts = { ...options, allErrors };
  return dialect === '2020-12' ? new Ajv2020(opts) : dialect === '2019-09' ? new Ajv2019(opts) : new Ajv(opts);
}

const instances = new Map<string, Ajv>();

function ajvFor(dialect: Dialect, allErrors: boolean): Ajv {
  const key = `${dialect}:${allErrors}`;
  let ajv = instances.get(key);
  if (!ajv) {
    ajv = newAjv(dialect, allErrors);
    instances.set(key, ajv);
  }
  return ajv;
}

/**
 * MCP's default dialect is 2020-12; `$schema` may say otherwise. Drafts older than 07 are
 * checked as draft-07 without their `$schema` (Ajv 8 has no draft-04/06 meta-schema loaded).
 */
function dialectOf(schema: unknown): { dialect: Dialect; schema: unknown } {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return { dialect: '2020-12', schema };
  const declared = (schema as { $schema?: unknown }).$schema;
  if (typeof declared !== 'string') return { dialect: '2020-12', schema };
  const { $schema: _, ...rest } = schema as Record<string, unknown>;
  if (/draft\/2020-12\/schema/.test(declared)) return { dialect: '2020-12', schema };
  if (/draft\/2019-09\/schema/.test(declared)) return { dialect: '2019-09', schema };
  if (/draft-07\/schema/.test(declared)) return { dialect: 'draft-07', schema };
  if (/draft-0[46]\/schema/.test(declared)) return { dialect: 'draft-07', schema: rest };
  return { dialect: '2020-12', schema: rest };
}

const cache = new Map<string, Compiled>();

function compile(inputSchema: unknown): Compiled {
  const key = digest(inputSchema);
  const cached = cache.get(key);
  if (cached) {
    // least recently used goes first: re-insert on every hit
    cache.delete(key);
    cache.set(key, cached);
    return cached;
  }
  const { dialect, schema } = dialectOf(inputSchema);
  let compiled: Compiled;
  try {
    const quick = compileOnce(dialect, false, schema);
    let all: ValidateFunction | null = null;
    compiled = { quick, all: () => (all ??= compileOnce(dialect, true, schema)) };
  } catch (error) {
    compiled = { invalid: error instanceof Error ? error.message : String(error) };
  }
  cache.set(key, compiled);
  if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  return compiled;
}

/**
 * Compile without keeping the schema registered (two tools may reuse one `$id`); should a
 * clash remain (a nested `$id`), compile once more in a fresh instance before giving up.
 */
function compileOnce(dialect: Dialect, allErrors: boolean, schema: unknown): ValidateFunction {
  if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object' || Array.isArray(schema))) {
    throw new Error('a schema must be an object or a boolean');
  }
  const ajv = ajvFor(dialect, allErrors);
  try {
    return ajv.compile(schema);
  } catch {
    return newAjv(dialect, allErrors).compile(schema);
  } finally {
    if (typeof schema === 'object') ajv.removeSchema(schema);
  }
}

/**
 * Violations of the tool's `inputSchema` by `args`, as `{ path: '/amount', message:
 * 'must be >= 0' }`; empty when they conform or the tool has no schema. An invalid
 * schema, or a check that could not finish in time, is one violation saying so (fail closed:
 * what could not be checked is not reported as conforming). Never throws.
 */
export function checkArguments(inputSchema: unknown, args: unknown): SchemaViolation[] {
  if (inputSchema === undefined || inputSchema === null) return [];
  try {
    const compiled = compile(inputSchema);
    if ('invalid' in compiled) {
      return [
        { path: '', message: `The tool's input schema is invalid, so the arguments could not be checked: ${short(compiled.invalid, 300)}` },
      ];
    }
    return validate(compiled, args);
  } catch (error) {
    const reason =
      error instanceof TimeLimitError
        ? `the check did not finish within ${TIME_LIMIT_MS / 1000} s (a pattern or uniqueness rule too slow for these arguments)`
        : error instanceof RangeError
          ? 'they are nested too deeply' // a recursive schema can exhaust the stack
          : short(String(error), 200);
    return [{ path: '', message: `The arguments could not be checked against the tool's input schema: ${reason}.` }];
  }
}

function validate(compiled: Extract<Compiled, { quick: ValidateFunction }>, args: unknown): SchemaViolation[] {
  if (validateWithin(compiled.quick, args)) return [];
  // every error of a huge argument could be one object per array item: list the first only
  if ((JSON.stringify(args)?.length ?? 0) > ALL_ERRORS_LIMIT) {
    return [
      toViolation(compiled.quick.errors?.[0]),
      { path: '', message: 'Only the first violation is listed for arguments this large; there may be more.' },
    ];
  }
  const all = compiled.all();
  validateWithin(all, args);
  return uniqueViolations((all.errors ?? []).map(toViolation));
}

function toViolation(error: ErrorObject | undefined): SchemaViolation {
  if (!error) return { path: '', message: "The arguments do not match the tool's input schema." };
  const params = error.params as Record<string, unknown>;
  // a missing or unexpected property is reported at that property, where a reviewer looks for it
  const property = params.missingProperty ?? params.additionalProperty ?? params.unevaluatedProperty;
  if (typeof property === 'string') {
    const path = `${error.instancePath}/${property.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    return { path, message: error.keyword === 'required' ? 'is required' : 'is not a property the schema allows' };
  }
  let message = error.message ?? 'is invalid';
  if (error.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    message = `must be one of ${short(params.allowedValues.map((v) => JSON.stringify(v)).join(', '), 200)}`;
  } else if (error.keyword === 'const') {
    message = `must be ${short(JSON.stringify(params.allowedValue) ?? 'the constant', 200)}`;
  }
  return { path: error.instancePath, message };
}

function uniqueViolations(violations: SchemaViolation[]): SchemaViolation[] {
  const seen = new Set<string>();
  return violations
    .filter((v) => {
      const key = `${v.path}\n${v.message}`;
      return !seen.has(key) && !!seen.add(key);
    })
    .slice(0, MAX_VIOLATIONS);
}

function short(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
