/** Minimal leveled logger to stderr; `AIRLOCK_LOG_LEVEL` = debug | info | warn | error | silent. */
const levels = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
type Level = keyof typeof levels;

function threshold(): number {
  const configured = (process.env.AIRLOCK_LOG_LEVEL ?? 'info') as Level;
  return levels[configured] ?? levels.info;
}

function write(level: Exclude<Level, 'silent'>, message: string, fields?: Record<string, unknown>): void {
  if (levels[level] < threshold()) return;
  const suffix = fields ? ` ${JSON.stringify(fields)}` : '';
  process.stderr.write(`${new Date().toISOString()} ${level.padEnd(5)} ${message}${suffix}\n`);
}

export const log = {
  /** Whether a level is written, to skip building a costly message. */
  enabled: (level: Exclude<Level, 'silent'>) => levels[level] >= threshold(),
  debug: (message: string, fields?: Record<string, unknown>) => write('debug', message, fields),
  info: (message: string, fields?: Record<string, unknown>) => write('info', message, fields),
  warn: (message: string, fields?: Record<string, unknown>) => write('warn', message, fields),
  error: (message: string, fields?: Record<string, unknown>) => write('error', message, fields),
};
