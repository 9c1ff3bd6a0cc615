/**
 * Reading untrusted tool calls for a reviewer: secrets, invisible characters, text that
 * reads like injected instructions, and a risk level. Pure and browser-safe: the console's
 * client components use it too (invariant 8: untrusted text stays text, secrets masked).
 */

export type RiskFlag = 'destructive' | 'open-world' | 'secrets' | 'injection' | 'invisible-text' | 'unannotated';
export type RiskLevel = 'high' | 'medium' | 'low';
export const riskLevels: readonly RiskLevel[] = ['high', 'medium', 'low'];

export const riskFlagLabels: Record<RiskFlag, string> = {
  destructive: 'Destructive',
  'open-world': 'Open world',
  secrets: 'Secrets in arguments',
  injection: 'Reads like injected instructions',
  'invisible-text': 'Invisible characters',
  unannotated: 'No annotations',
};

// ─── secrets ────────────────────────────────────────────────────────────────

const SECRET_KEY = /(pass(word|wd|phrase)?|secret|token|api[-_]?key|apikey|access[-_]?key|private[-_]?key|client[-_]?secret|credential|auth(orization)?|cookie|session[-_]?id|bearer|pin|cvv|ssn)$/i;

const SECRET_VALUES: { kind: string; pattern: RegExp }[] = [
  { kind: 'private key', pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
  { kind: 'AWS access key', pattern: /\b(AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { kind: 'GitHub token', pattern: /\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b/ },
  { kind: 'Slack token', pattern: /\bxox[abprs]-[A-Za-z0-9-]{10,}\b/ },
  { kind: 'Stripe key', pattern: /\b[sr]k_(live|test)_[A-Za-z0-9]{16,}\b/ },
  { kind: 'OpenAI-style key', pattern: /\bsk-[A-Za-z0-9_-]{20,}\b/ },
  { kind: 'Google API key', pattern: /\bAIza[0-9A-Za-z_-]{35}\b/ },
  { kind: 'JSON Web Token', pattern: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/ },
  { kind: 'bearer token', pattern: /\bBearer\s+[A-Za-z0-9._~+/=-]{16,}/i },
  { kind: 'Airlock token', pattern: /\balk_(agent|user)_[A-Za-z0-9_-]{20,}/ },
  { kind: 'password in URL', pattern: /\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i },
];

/** Whether a key names a secret (`password`, `api_key`, `Authorization`, …). */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key.replace(/[^A-Za-z0-9_-]/g, ''));
}

/** The kind of secret a string contains, if it looks like one. */
export function secretKind(value: string): string | null {
  // bound the scan: a 1 MB argument must not stall the page or the gateway
  const sample = value.length > 200_000 ? value.slice(0, 200_000) : value;
  for (const { kind, pattern } of SECRET_VALUES) if (pattern.test(sample)) return kind;
  return null;
}

export type SecretHit = { path: (string | number)[]; kind: string };

/** Every string value in `value` that is a secret by its key or by its shape. */
export function findSecrets(value: unknown, limit = 100): SecretHit[] {
  const hits: SecretHit[] = [];
  walk(value, [], (path, leaf) => {
    if (hits.length >= limit || typeof leaf !== 'string' || leaf === '') return;
    const key = path[path.length - 1];
    if (typeof key === 'string' && isSecretKey(key)) hits.push({ path, kind: `value of "${key}"` });
    else {
      const kind = secretKind(leaf);
      if (kind) hits.push({ path, kind });
    }
  });
  return hits;
}

// ─── invisible characters ───────────────────────────────────────────────────

/** Characters a person cannot see but a model reads: bidi controls, zero-width, tags, other format characters. */
const INVISIBLE = /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF9-\uFFFB]|\uDB40[\uDC00-\uDDEF]/g;

const NAMES: Record<number, string> = {
  0x00ad: 'SOFT HYPHEN',
  0x061c: 'ARABIC LETTER MARK',
  0x200b: 'ZERO WIDTH SPACE',
  0x200c: 'ZERO WIDTH NON-JOINER',
  0x200d: 'ZERO WIDTH JOINER',
  0x200e: 'LEFT-TO-RIGHT MARK',
  0x200f: 'RIGHT-TO-LEFT MARK',
  0x202a: 'LEFT-TO-RIGHT EMBEDDING',
  0x202b: 'RIGHT-TO-LEFT EMBEDDING',
  0x202c: 'POP DIRECTIONAL FORMATTING',
  0x202d: 'LEFT-TO-RIGHT OVERRIDE',
  0x202e: 'RIGHT-TO-LEFT OVERRIDE',
  0x2060: 'WORD JOINER',
  0x2066: 'LEFT-TO-RIGHT ISOLATE',
  0x2067: 'RIGHT-TO-LEFT ISOLATE',
  0x2068: 'FIRST STRONG ISOLATE',
  0x2069: 'POP DIRECTIONAL ISOLATE',
  0xfeff: 'ZERO WIDTH NO-BREAK SPACE',
};

export type TextSegment = { text: string; invisible: false } | { text: string; invisible: true; codePoint: number; label: string };

/** The name of an invisible code point, e.g. `U+202E RIGHT-TO-LEFT OVERRIDE`. */
export function describeCodePoint(codePoint: number): string {
  const hex = `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
  if (codePoint >= 0xe0000 && codePoint <= 0xe007f) return `${hex} TAG ${codePoint >= 0xe0020 && codePoint < 0xe007f ? `'${String.fromCharCode(codePoint - 0xe0000)}'` : ''}`.trim();
  const name = NAMES[codePoint];
  return name ? `${hex} ${name}` : hex;
}

/** Split text into visible runs and invisible characters, so each can be shown for what it is. */
export function segmentInvisible(text: string): TextSegment[] {
  const segments: TextSegment[] = [];
  let last = 0;
  for (const match of text.matchAll(INVISIBLE)) {
    const index = match.index ?? 0;
    if (index > last) segments.push({ text: text.slice(last, index), invisible: false });
    const codePoint = match[0].codePointAt(0) ?? 0;
    segments.push({ text: match[0], invisible: true, codePoint, label: describeCodePoint(codePoint) });
    last = index + match[0].length;
  }
  if (last < text.length) segments.push({ text: text.slice(last), invisible: false });
  return segments;
}

export function hasInvisible(text: string): boolean {
  INVISIBLE.lastIndex = 0;
  const found = INVISIBLE.test(text);
  INVISIBLE.lastIndex = 0;
  return found;
}

// ─── injected instructions ──────────────────────────────────────────────────

const INJECTION: RegExp[] = [
  /\bignore (all |any |the )?(previous|prior|above|earlier) (instructions|prompts?|messages|rules)\b/i,
  /\bdisregard (all |any |the )?(previous|prior|above|system) (instructions|prompts?|rules)\b/i,
  /\b(you are now|from now on you|act as|pretend to be) /i,
  /\b(system prompt|developer message|hidden instructions?)\b/i,
  /\bdo not (tell|inform|mention|reveal)( this)? to (the )?(user|human)\b/i,
  /\b(without|don't|do not) (asking|ask|telling|tell) (the )?(user|human)\b/i,
  /<\|?(im_start|im_end|system|endoftext)\|?>/i,
  /\[(INST|SYS)\]|<<SYS>>/,
  /<\/?(important|system|instructions?)>/i,
  /\b(forward|send|exfiltrate|upload) (all|every|the)? ?(emails?|files|secrets|credentials|keys|data) to\b/i,
];

/** Phrases in untrusted text that read like instructions aimed at the model. */
export function injectionSignals(text: string): string[] {
  const sample = text.length > 200_000 ? text.slice(0, 200_000) : text;
  const found: string[] = [];
  for (const pattern of INJECTION) {
    const match = pattern.exec(sample);
    if (match) found.push(match[0]);
  }
  return found;
}

// ─── risk ───────────────────────────────────────────────────────────────────

export type ToolAnnotations = { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean };

export type RiskInput = { annotations?: ToolAnnotations | null; description?: string | null; arguments: unknown };
export type RiskAssessment = { level: RiskLevel; flags: RiskFlag[] };

/**
 * Flags a reviewer should see before deciding, and a level to sort and filter by. The
 * annotations are the server's own claims: they can raise the level, never lower it.
 */
export function assessRisk({ annotations, description, arguments: args }: RiskInput): RiskAssessment {
  const flags: RiskFlag[] = [];
  // MCP's default for destructiveHint is true when a tool is not read-only
  if (annotations?.destructiveHint === true || (annotations?.readOnlyHint !== true && annotations?.destructiveHint === undefined && annotations))
    flags.push('destructive');
  if (annotations?.openWorldHint === true) flags.push('open-world');
  if (!annotations || Object.keys(annotations).length === 0) flags.push('unannotated');
  if (findSecrets(args, 1).length > 0) flags.push('secrets');
  const texts = [description ?? '', ...strings(args, 200)];
  if (texts.some((t) => injectionSignals(t).length > 0)) flags.push('injection');
  if (texts.some(hasInvisible)) flags.push('invisible-text');
  const high = flags.some((f) => f === 'destructive' || f === 'secrets' || f === 'injection' || f === 'invisible-text');
  const medium = flags.some((f) => f === 'open-world' || f === 'unannotated');
  return { level: high ? 'high' : medium ? 'medium' : 'low', flags };
}

function strings(value: unknown, limit: number): string[] {
  const out: string[] = [];
  walk(value, [], (path, leaf) => {
    if (out.length < limit) {
      if (typeof leaf === 'string') out.push(leaf);
      const key = path[path.length - 1];
      if (typeof key === 'string') out.push(key);
    }
  });
  return out;
}

/** Depth-first over JSON leaves, bounded so hostile input cannot blow the stack. */
function walk(value: unknown, path: (string | number)[], visit: (path: (string | number)[], leaf: unknown) => void, depth = 0): void {
  if (depth > 64) return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => walk(item, [...path, i], visit, depth + 1));
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) walk(item, [...path, key], visit, depth + 1);
    return;
  }
  visit(path, value);
}
