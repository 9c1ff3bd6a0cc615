/** Minimal leveled logger to stderr; `AIRLOCK_LOG_LEVEL` = debug | info | warn | error | silent. */
const levels = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
type Level = keyof typeof levels;

function threshold(): number {
  const configured = (process.env.AIRLOCK_LOG_LEVEL ?? 'info') as Level;
  return levels[configured] ?? levels.info;
}

/**
 * drizzle's DrizzleQueryError writes a failed statement's bound values into its message
 * (`Failed query: …\nparams: …`), and those are tool arguments, reasons, names: what the
 * audit log and the console mask (invariant 8). Whatever form an error reaches the log in
 * (its message, `String(error)`, its stack), the values are cut out; the statement and the
 * driver's cause stay.
 */
const QUERY_PARAMS = /(Failed query: [\s\S]*?\nparams: )[\s\S]*?(?=\n {4}at |$)/g;

export function withoutQueryParams(text: string): string {
  return text.includes('Failed query: ') ? text.replace(QUERY_PARAMS, '$1(withheld from the log)') : text;
}

function write(level: Exclude<Level, 'silent'>, message: string, fields?: Record<string, unknown>): void {
  if (levels[level] < threshold()) return;
  const clean = (_key: string, value: unknown) => (typeof value === 'string' ? withoutQueryParams(value) : value);
  const suffix = fields ? ` ${JSON.stringify(fields, clean)}` : '';
  process.stderr.write(`${new Date().toISOString()} ${level.padEnd(5)} ${withoutQueryParams(message)}${suffix}\n`);
}

export const log = {
  /** Whether a level is written, to skip building a costly message. */
  enabled: (level: Exclude<Level, 'silent'>) => levels[level] >= threshold(),
  debug: (message: string, fields?: Record<string, unknown>) => write('debug', message, fields),
  info: (message: string, fields?: Record<string, unknown>) => write('info', message, fields),
  warn: (message: string, fields?: Record<string, unknown>) => write('warn', message, fields),
  error: (message: string, fields?: Record<string, unknown>) => write('error', message, fields),
};
