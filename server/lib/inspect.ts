/**
 * Reading untrusted tool calls for a reviewer: secrets, invisible characters, text that
 * reads like injected instructions, and a risk level. Pure and browser-safe: the console's
 * client components use it too (invariant 8: untrusted text stays text, secrets masked).
 *
 * Everything here runs on hostile input, on the gateway's hot path and in a phone's
 * browser: every regular expression is written so its cost stays linear in the input
 * (no two unbounded quantifiers that can re-scan the same run from many starts).
 */

export type RiskFlag = 'destructive' | 'open-world' | 'secrets' | 'injection' | 'invisible-text' | 'unannotated';
export type RiskLevel = 'high' | 'medium' | 'low';

export const riskFlagLabels: Record<RiskFlag, string> = {
  destructive: 'Destructive',
  'open-world': 'Open world',
  secrets: 'Secrets in arguments',
  injection: 'Reads like injected instructions',
  'invisible-text': 'Invisible characters',
  unannotated: 'No annotations',
};

/** Longest text scanned for secrets and injected instructions; beyond it a reviewer reads it folded anyway. */
const SCAN_LIMIT = 2_000_000;

function sample(text: string): string {
  return text.length > SCAN_LIMIT ? text.slice(0, SCAN_LIMIT) : text;
}

// ─── secrets ────────────────────────────────────────────────────────────────

/** `apiKey`, `X-API-Key`, `AWS_SECRET_ACCESS_KEY` → lower-case words. */
function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** A key whose last word ends like this names a secret: `db_password`, `PGPASSWORD`, `clientSecret`. */
const SECRET_SUFFIXES = [
  'password',
  'passwords',
  'passwd',
  'passphrase',
  'passcode',
  'secret',
  'secrets',
  'apikey',
  'apikeys',
  'accesskey',
  'privatekey',
  'secretkey',
  'credential',
  'credentials',
  'cookie',
  'cookies',
  'authorization',
  'auth',
  'sessionid',
  'mnemonic',
  'seedphrase',
];
/** Whole words that name a secret only on their own (`pass` yes, `bypass` no; `pin` yes, `spin` no). */
const SECRET_WORDS = new Set(['pass', 'pin', 'cvv', 'cvc', 'ssn', 'otp', 'totp', 'bearer', 'jwt']);
/** `<word> key` is a secret for these words (`api_key`, `signing-key`); `primary_key`, `cache_key` are not. */
const SECRET_KEY_QUALIFIERS = new Set([
  'api',
  'access',
  'private',
  'secret',
  'signing',
  'encryption',
  'ssh',
  'master',
  'client',
  'license',
  'auth',
  'session',
  'webhook',
  'service',
  'account',
  'subscription',
]);
/** `<word> token` is pagination or counting, not a credential (`next_page_token`, `max_token`). */
const NON_SECRET_TOKEN_QUALIFIERS = new Set([
  'page',
  'next',
  'continuation',
  'cursor',
  'sync',
  'prev',
  'previous',
  'resume',
  'progress',
  'max',
  'start',
  'end',
  'stop',
]);
/** `<word> code` is a secret for these words (`pin_code`, `otp_code`); `zip_code`, `status_code` are not. */
const SECRET_CODE_QUALIFIERS = new Set([
  'pin',
  'otp',
  'totp',
  'mfa',
  '2fa',
  'auth',
  'authorization',
  'verification',
  'security',
  'recovery',
  'backup',
]);

/** Words that only say how a secret is stored: `private_key_pem`, `token_value`, `api_key_b64`. */
const ENCODING_WORDS = new Set([
  'value',
  'pem',
  'b64',
  'base64',
  'hex',
  'raw',
  'str',
  'string',
  'text',
  'plain',
  'plaintext',
  'data',
  'encoded',
]);

/** `<word> header` is a secret for these words (`auth_header`); `content_header` is not. */
const SECRET_HEADER_QUALIFIERS = new Set(['auth', 'authorization']);

/** Whether one word, or two adjacent words read as one (`pass_word`, `Pass_Phrase`), ends like a secret's name. */
const endsLikeSecret = (word: string) => SECRET_SUFFIXES.some((suffix) => word.endsWith(suffix));

/** Whether a key names a secret (`password`, `api_key`, `Authorization`, `passWord`, …). */
export function isSecretKey(key: string): boolean {
  const words = keyWords(key);
  while (words.length > 1 && ENCODING_WORDS.has(words[words.length - 1])) words.pop();
  const last = words[words.length - 1];
  if (!last) return false;
  const previous = words[words.length - 2] ?? '';
  if (SECRET_WORDS.has(last)) return true;
  // the last two words joined too: `pass_word`, `PASS_PHRASE`, `seedPhrase` split a secret's name in two
  if (endsLikeSecret(last) || (previous && endsLikeSecret(previous + last))) return true;
  if (last === 'key' || last === 'keys') return SECRET_KEY_QUALIFIERS.has(previous);
  if (last === 'id') return previous === 'session';
  if (last === 'code' || last === 'codes') return SECRET_CODE_QUALIFIERS.has(previous);
  if (last === 'header') return SECRET_HEADER_QUALIFIERS.has(previous);
  // singular only: `max_tokens`, `input_tokens` count tokens, they are not credentials
  if (last.endsWith('token'))
    return !NON_SECRET_TOKEN_QUALIFIERS.has(previous) && !/^(page|next|continuation|cursor|sync)token$/.test(last);
  return false;
}

/** Longest name read from a `{ name, value }` pair: environment variable names, not prose. */
const MAX_NAME_LENGTH = 200;

/** Keys that carry the name in a name/value pair: Kubernetes and Docker `env`, AWS `Tags`, SSM parameters. */
const PAIR_NAME_KEYS = ['name', 'Name', 'NAME', 'key', 'Key', 'KEY'];

/**
 * The secret's name that the value under `key` of `container` falls under, if any: the
 * key itself (`password`), the name beside it in a name/value pair (`{ "name":
 * "DB_PASSWORD", "value": … }`), or else the one `container` falls under (everything under a
 * secret key is a secret, objects included). `namesSecret` is `isSecretKey`, possibly cached.
 */
export function secretNameOf(
  container: object,
  key: string,
  inherited: string | null,
  namesSecret: (name: string) => boolean = isSecretKey,
): string | null {
  if (namesSecret(key)) return key;
  if (key.length === 5 && key.toLowerCase() === 'value') {
    for (const nameKey of PAIR_NAME_KEYS) {
      if (!Object.hasOwn(container, nameKey)) continue;
      const name = (container as Record<string, unknown>)[nameKey];
      if (typeof name === 'string' && name.length <= MAX_NAME_LENGTH && namesSecret(name)) return name;
    }
  }
  return inherited;
}

/** Shapes that name their secret (`password=…`) meet ordinary `x=1` text often: they try more candidates. */
const NAMED_CANDIDATES = 100_000;

type SecretShape = {
  kind: string;
  pattern: RegExp;
  valid?: (match: RegExpExecArray) => boolean;
  /** Candidates tried before giving up, when `valid` is cheap and near-misses are ordinary text. */
  maxCandidates?: number;
};

/** A random-looking run mixes letters and digits; a slug like `sk-learn-some-long-page-name` does not. */
const looksRandom = (token: string) => /[0-9]/.test(token) && /[A-Za-z]/.test(token);

function decodesToUserPassword(base64: string): boolean {
  try {
    return /^[^:\s]{1,256}:[^\s]/.test(atob(base64));
  } catch {
    return false;
  }
}

// Shapes are anchored on a literal prefix and a minimal length, with a look-behind where a
// run could otherwise be re-scanned from every position inside it. All patterns are global:
// `secretKind` resets lastIndex and walks candidates until one passes `valid`.
const SECRET_SHAPES: SecretShape[] = [
  { kind: 'private key', pattern: /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY( BLOCK)?-----/g },
  { kind: 'AWS access key', pattern: /(?<![A-Za-z0-9])(AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z])/g },
  { kind: 'GitHub token', pattern: /(?<![A-Za-z0-9_])(gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{40})/g },
  { kind: 'GitLab token', pattern: /(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20}/g },
  { kind: 'Slack token', pattern: /(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10}/g },
  { kind: 'Slack webhook URL', pattern: /hooks\.slack\.com\/services\/T[A-Z0-9]{6,12}\/B[A-Z0-9]{6,12}\/[A-Za-z0-9]{16}/g },
  { kind: 'Stripe key', pattern: /(?<![A-Za-z0-9_])(sk|rk)_(live|test)_[A-Za-z0-9]{16}/g },
  { kind: 'Stripe webhook secret', pattern: /(?<![A-Za-z0-9_])whsec_[A-Za-z0-9]{24}/g },
  { kind: 'Anthropic API key', pattern: /(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9]{2,8}-[A-Za-z0-9_-]{32}/g },
  {
    kind: 'OpenAI-style API key',
    pattern: /(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?([A-Za-z0-9_-]{32})/g,
    valid: (m) => looksRandom(m[1]),
  },
  { kind: 'Google API key', pattern: /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}/g },
  { kind: 'npm token', pattern: /(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}/g },
  { kind: 'Hugging Face token', pattern: /(?<![A-Za-z0-9_])hf_[A-Za-z]{34}/g },
  { kind: 'SendGrid key', pattern: /(?<![A-Za-z0-9_-])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}/g },
  { kind: 'JSON Web Token', pattern: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g },
  { kind: 'bearer token', pattern: /\bBearer[ \t]{1,8}[A-Za-z0-9._~+/=-]{16}/gi },
  {
    kind: 'basic auth credentials',
    pattern: /\bBasic[ \t]{1,8}([A-Za-z0-9+/]{8,512}={0,2})(?![A-Za-z0-9+/=])/g,
    valid: (m) => decodesToUserPassword(m[1]),
  },
  { kind: 'Airlock token', pattern: /(?<![A-Za-z0-9_])alk_(agent|user)_[A-Za-z0-9_-]{20}/g },
  // the user name may be empty: `redis://:password@host`
  { kind: 'password in URL', pattern: /(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,30}:\/\/[^/\s:@]*:[^/\s@]+@/gi },
  {
    kind: 'secret in URL query',
    pattern: /[?&]([A-Za-z][A-Za-z0-9_.-]{0,80})=[^&#\s]/g,
    valid: (m) => isSecretKey(m[1]),
    maxCandidates: NAMED_CANDIDATES,
  },
  {
    // `Password=hunter2;` in a connection string, `PGPASSWORD=x psql`, `--api-key=x`, `db.password=x`;
    // no spaces around `=`, and not a reference (`$X`, `${x}`, `%s`): code that assigns a variable is not a secret
    kind: 'secret in name=value text',
    pattern: /(?<![A-Za-z0-9_.-])-{0,2}([A-Za-z][A-Za-z0-9_.-]{0,80})=["']?([^\s;&'"$%{}<>()[\],=])/g,
    // ODBC's `PWD=` is a password, the shell's `PWD=/home/me` a directory
    valid: (m) => isSecretKey(m[1]) || (/^pwd$/i.test(m[1]) && !/[/~.]/.test(m[2])),
    maxCandidates: NAMED_CANDIDATES,
  },
  {
    // `Authorization: Token 9f8e…` or `-H "X-API-Key: 9f8e…"` in a curl command, `api_key: 9f8e…` in YAML;
    // the credential mixes letters and digits, so `Password: must be 8 characters` stays readable
    kind: 'secret in name: value text',
    pattern:
      /(?<![A-Za-z0-9_-])([A-Za-z][A-Za-z0-9_-]{0,80})["']?[ \t]{0,4}:[ \t]{0,8}["']?(?:[A-Za-z][A-Za-z0-9-]{0,20}[ \t]{1,8})?([A-Za-z0-9._~+/=-]{8,512})/g,
    valid: (m) => looksRandom(m[2]) && isSecretKey(m[1]),
    maxCandidates: NAMED_CANDIDATES,
  },
];

/** Bounded work per shape even when hostile text is full of near-misses. */
const MAX_CANDIDATES = 1000;

/** The kind of secret a string contains, if it looks like one. */
export function secretKind(value: string): string | null {
  const text = sample(value);
  for (const { kind, pattern, valid, maxCandidates = MAX_CANDIDATES } of SECRET_SHAPES) {
    pattern.lastIndex = 0;
    let tries = 0;
    for (let match = pattern.exec(text); match && tries < maxCandidates; match = pattern.exec(text), tries++) {
      if (!valid || valid(match)) {
        pattern.lastIndex = 0;
        return kind;
      }
    }
    pattern.lastIndex = 0;
  }
  return null;
}

/**
 * Whether a value is a secret, and of which kind: by the nearest key naming it (strings and
 * numbers: a PIN can be a number) or by its shape (strings). The one decision the gateway's
 * risk flag and the console's masking share.
 */
export function classifySecret(key: string | null | undefined, value: unknown): string | null {
  const masked = typeof value === 'string' ? value !== '' : typeof value === 'number';
  if (!masked) return null;
  if (key && isSecretKey(key)) return `value of "${key}"`;
  return typeof value === 'string' ? secretKind(value) : null;
}

export type SecretHit = { path: (string | number)[]; kind: string };

/**
 * Every string (or number) value in `value` that is a secret by a key or name it falls
 * under (`secretNameOf`) or by its shape.
 */
export function findSecrets(value: unknown, limit = 100): SecretHit[] {
  const hits: SecretHit[] = [];
  // the secret's name each container passes to its items; containers are visited before their items
  const names = new WeakMap<WalkNode, string | null>();
  walk(value, (node) => {
    if (hits.length >= limit) return false;
    const { parent, key, value: child } = node;
    const inherited = parent ? (names.get(parent) ?? null) : null;
    const name = parent && typeof key === 'string' ? secretNameOf(parent.value as object, key, inherited) : inherited;
    if (child !== null && typeof child === 'object') {
      names.set(node, name);
      return true;
    }
    const kind = classifySecret(name, child);
    if (kind) hits.push({ path: pathOf(node), kind });
    return true;
  });
  return hits;
}

// ─── invisible characters ───────────────────────────────────────────────────

/**
 * Characters a person cannot see but a model reads: bidi controls, zero-width characters,
 * tag characters (which can spell a whole hidden message), variation selectors, fillers,
 * other default-ignorable code points, and control characters other than tab and newlines.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u2800\uFFF9-\uFFFB]/gu;

/** One invisible character, whole: for judging a neighbour. */
const INVISIBLE_ONE = new RegExp(`^${INVISIBLE.source}$`, 'u');

const NAMES = new Map<number, string>([
  [0x0000, 'NULL'],
  [0x0007, 'BELL'],
  [0x0008, 'BACKSPACE'],
  [0x000b, 'LINE TABULATION'],
  [0x000c, 'FORM FEED'],
  [0x001b, 'ESCAPE'],
  [0x007f, 'DELETE'],
  [0x00ad, 'SOFT HYPHEN'],
  [0x034f, 'COMBINING GRAPHEME JOINER'],
  [0x061c, 'ARABIC LETTER MARK'],
  [0x115f, 'HANGUL CHOSEONG FILLER'],
  [0x1160, 'HANGUL JUNGSEONG FILLER'],
  [0x180e, 'MONGOLIAN VOWEL SEPARATOR'],
  [0x200b, 'ZERO WIDTH SPACE'],
  [0x200c, 'ZERO WIDTH NON-JOINER'],
  [0x200d, 'ZERO WIDTH JOINER'],
  [0x200e, 'LEFT-TO-RIGHT MARK'],
  [0x200f, 'RIGHT-TO-LEFT MARK'],
  [0x202a, 'LEFT-TO-RIGHT EMBEDDING'],
  [0x202b, 'RIGHT-TO-LEFT EMBEDDING'],
  [0x202c, 'POP DIRECTIONAL FORMATTING'],
  [0x202d, 'LEFT-TO-RIGHT OVERRIDE'],
  [0x202e, 'RIGHT-TO-LEFT OVERRIDE'],
  [0x2060, 'WORD JOINER'],
  [0x2061, 'FUNCTION APPLICATION'],
  [0x2062, 'INVISIBLE TIMES'],
  [0x2063, 'INVISIBLE SEPARATOR'],
  [0x2064, 'INVISIBLE PLUS'],
  [0x2066, 'LEFT-TO-RIGHT ISOLATE'],
  [0x2067, 'RIGHT-TO-LEFT ISOLATE'],
  [0x2068, 'FIRST STRONG ISOLATE'],
  [0x2069, 'POP DIRECTIONAL ISOLATE'],
  [0x2800, 'BRAILLE PATTERN BLANK'],
  [0x3164, 'HANGUL FILLER'],
  [0xfeff, 'ZERO WIDTH NO-BREAK SPACE'],
  [0xffa0, 'HALFWIDTH HANGUL FILLER'],
  [0xfff9, 'INTERLINEAR ANNOTATION ANCHOR'],
  [0xfffa, 'INTERLINEAR ANNOTATION SEPARATOR'],
  [0xfffb, 'INTERLINEAR ANNOTATION TERMINATOR'],
  [0xe0001, 'LANGUAGE TAG'],
  [0xe007f, 'CANCEL TAG'],
]);

const isTag = (cp: number) => cp >= 0xe0000 && cp <= 0xe007f;
const isVariationSelector = (cp: number) => (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef);
const isJoiner = (cp: number) => cp === 0x200c || cp === 0x200d;
/** Tag characters that spell printable ASCII: hidden text a model reads and a person does not see. */
const tagAscii = (cp: number) => (cp >= 0xe0020 && cp <= 0xe007e ? String.fromCharCode(cp - 0xe0000) : '');
const BLACK_FLAG = 0x1f3f4;

export type TextSegment =
  | { text: string; invisible: false }
  | {
      text: string;
      invisible: true;
      /** The first code point of the run. */
      codePoint: number;
      /** How many invisible code points the run holds (adjacent ones are grouped). */
      count: number;
      /** `U+202E RIGHT-TO-LEFT OVERRIDE`, or a summary of a run. */
      label: string;
    };

/** The name of an invisible code point, e.g. `U+202E RIGHT-TO-LEFT OVERRIDE`. */
export function describeCodePoint(codePoint: number): string {
  const hex = `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
  const name = NAMES.get(codePoint);
  if (name) return `${hex} ${name}`;
  if (isTag(codePoint)) return tagAscii(codePoint) ? `${hex} TAG '${tagAscii(codePoint)}'` : `${hex} TAG`;
  if (codePoint >= 0xfe00 && codePoint <= 0xfe0f) return `${hex} VARIATION SELECTOR-${codePoint - 0xfe00 + 1}`;
  if (codePoint >= 0xe0100 && codePoint <= 0xe01ef) return `${hex} VARIATION SELECTOR-${codePoint - 0xe0100 + 17}`;
  if (codePoint < 0x20 || (codePoint >= 0x7f && codePoint <= 0x9f)) return `${hex} CONTROL CHARACTER`;
  return `${hex} INVISIBLE FORMAT CHARACTER`;
}

function codePointBefore(text: string, index: number): number | undefined {
  if (index <= 0) return undefined;
  const low = text.charCodeAt(index - 1);
  if (index >= 2 && low >= 0xdc00 && low <= 0xdfff) {
    const high = text.charCodeAt(index - 2);
    if (high >= 0xd800 && high <= 0xdbff) return text.codePointAt(index - 2);
  }
  return low;
}

/** A neighbour that can carry a joiner or selector: a visible, non-space, non-ASCII character. */
const carries = (cp: number | undefined) => cp !== undefined && cp > 0x7f && !/\s/u.test(String.fromCodePoint(cp));

type Hit = { index: number; end: number; codePoint: number };

/**
 * The invisible characters a reviewer should see, in order. Emoji keep the few invisible
 * characters they are made of: one variation selector after a visible character (❤️), a
 * joiner between two non-ASCII characters (👩‍💻, and Indic or Persian text), and the tag
 * run of a subdivision flag (🏴 + tags + CANCEL TAG). Runs, joiners in Latin text, and tags
 * elsewhere (which can spell a whole hidden instruction) are reported.
 */
function invisibleHits(text: string, stopAfter = Number.POSITIVE_INFINITY): Hit[] {
  const hits: Hit[] = [];
  let legitEnd = -1; // end of the last invisible character judged part of an emoji
  let flagRunUntil = -1; // end of a 🏴 tag sequence being allowed
  const regex = new RegExp(INVISIBLE.source, INVISIBLE.flags);
  for (const match of text.matchAll(regex)) {
    const index = match.index ?? 0;
    const codePoint = match[0].codePointAt(0) ?? 0;
    const end = index + match[0].length;
    const before = codePointBefore(text, index);
    const afterOwnRun = legitEnd === index; // the previous character was an allowed invisible
    let allowed = false;
    if (isVariationSelector(codePoint)) {
      // one selector picks a glyph's presentation; a run of them encodes data
      const after = text.codePointAt(end);
      allowed =
        before !== undefined &&
        !afterOwnRun &&
        !(after !== undefined && isVariationSelector(after)) &&
        !INVISIBLE_ONE.test(String.fromCodePoint(before)) &&
        !/\s/u.test(String.fromCodePoint(before));
    } else if (isJoiner(codePoint)) {
      const after = text.codePointAt(end);
      const beforeVisible = carries(before) && (!INVISIBLE_ONE.test(String.fromCodePoint(before ?? 0)) || afterOwnRun);
      allowed = beforeVisible && carries(after) && !INVISIBLE_ONE.test(String.fromCodePoint(after ?? 0));
    } else if (isTag(codePoint)) {
      if (before === BLACK_FLAG) flagRunUntil = subdivisionFlagEnd(text, index);
      allowed = index < flagRunUntil;
    }
    if (allowed) {
      legitEnd = end;
      continue;
    }
    hits.push({ index, end, codePoint });
    if (hits.length >= stopAfter) break;
  }
  return hits;
}

/** Where a subdivision flag's tag run (2–6 lower-case letters or digits, then CANCEL TAG) ends, or -1. */
function subdivisionFlagEnd(text: string, start: number): number {
  let index = start;
  let letters = 0;
  for (;;) {
    const cp = text.codePointAt(index);
    if (cp === 0xe007f) return letters >= 2 && letters <= 6 ? index + 2 : -1;
    if (cp === undefined || !((cp >= 0xe0061 && cp <= 0xe007a) || (cp >= 0xe0030 && cp <= 0xe0039)) || letters > 6) return -1;
    letters++;
    index += 2;
  }
}

function runLabel(codePoints: number[], count: number): string {
  if (count === 1) return describeCodePoint(codePoints[0]);
  if (codePoints.every(isTag)) {
    const spelled = codePoints.map(tagAscii).join('');
    return `${count} TAG characters${spelled ? ` spelling "${short(spelled, 200)}"` : ''}`;
  }
  const distinct = [...new Set(codePoints)];
  const named = distinct.slice(0, 4).map(describeCodePoint).join(', ');
  return `${count} invisible characters: ${named}${distinct.length > 4 ? ', …' : ''}`;
}

/** Longest run kept in memory per segment for its label (a 1 MB run of ZWSP is one segment). */
const RUN_SAMPLE = 1000;

/**
 * Split text into visible runs and invisible characters, so each can be shown for what it
 * is. Adjacent invisible characters form one segment (a hidden message in tag characters
 * becomes one segment whose label spells it out); tags never group with other characters.
 */
export function segmentInvisible(text: string): TextSegment[] {
  const segments: TextSegment[] = [];
  let last = 0;
  let run: { start: number; end: number; codePoints: number[]; count: number; tags: boolean } | null = null;
  const flush = () => {
    if (!run) return;
    segments.push({
      text: text.slice(run.start, run.end),
      invisible: true,
      codePoint: run.codePoints[0],
      count: run.count,
      label: runLabel(run.codePoints, run.count),
    });
    last = run.end;
    run = null;
  };
  for (const hit of invisibleHits(text)) {
    const tags = isTag(hit.codePoint);
    if (run && run.end === hit.index && run.tags === tags) {
      run.end = hit.end;
      run.count++;
      if (run.codePoints.length < RUN_SAMPLE) run.codePoints.push(hit.codePoint);
      continue;
    }
    flush();
    if (hit.index > last) segments.push({ text: text.slice(last, hit.index), invisible: false });
    run = { start: hit.index, end: hit.end, codePoints: [hit.codePoint], count: 1, tags };
  }
  flush();
  if (last < text.length) segments.push({ text: text.slice(last), invisible: false });
  return segments;
}

/** What a reviewer sees in place of an invisible run: `⟨U+202E⟩`, `⟨U+200B ×3⟩`, `⟨hidden: "ignore…"⟩`. */
export function invisibleMarker(segment: Extract<TextSegment, { invisible: true }>): string {
  const hex = (cp: number) => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  if (segment.count === 1) return `⟨${hex(segment.codePoint)}⟩`;
  const head = firstCodePoints(segment.text, 80);
  if (head.every(isTag)) {
    const spelled = head.map(tagAscii).join('');
    if (spelled) return `⟨hidden: "${short(spelled, 60)}"${segment.count > head.length ? ` (${segment.count} tags)` : ''}⟩`;
  }
  if (head.every((cp) => cp === segment.codePoint)) return `⟨${hex(segment.codePoint)} ×${segment.count}⟩`;
  return `⟨${head.slice(0, 4).map(hex).join(' ')}${segment.count > 4 ? ` … ${segment.count} in all` : ''}⟩`;
}

function firstCodePoints(text: string, max: number): number[] {
  const out: number[] = [];
  for (const char of text) {
    if (out.length >= max) break;
    out.push(char.codePointAt(0) ?? 0);
  }
  return out;
}

export function hasInvisible(text: string): boolean {
  return invisibleHits(text, 1).length > 0;
}

/** How many invisible code points a reviewer should be warned about. */
export function countInvisible(text: string): number {
  return invisibleHits(text).length;
}

/**
 * JSON text with every invisible character written as a `\uXXXX` escape: the same value once
 * parsed, but a reviewer editing it sees `\u202e` where the raw character would silently turn
 * `1003-CCA` into `ACC-3001`. (JSON.stringify's output holds such characters only in strings.)
 */
export function escapeInvisible(json: string): string {
  return json.replace(new RegExp(INVISIBLE.source, INVISIBLE.flags), (char) =>
    Array.from({ length: char.length }, (_, i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''),
  );
}

// ─── injected instructions ──────────────────────────────────────────────────

// Matched against text with invisible characters removed, compatibility forms folded
// (full-width letters) and whitespace collapsed to single spaces, so the phrases need no \s+.
const INJECTION: RegExp[] = [
  /\b(ignore|disregard|forget|override|bypass)( (all|any|the|of|your|these|those|my)){0,3} (previous|prior|above|earlier|preceding|former|original|system|your)( (system|safety))? (instructions|prompts?|messages|rules|directions|guidelines|guardrails|context)\b/i,
  /\b(ignore|disregard|forget) (the above|(everything|anything|all)( (written|said|stated))? (above|before|previously))\b/i,
  /\b(you are now (a|an|the|my|no longer|in (developer|god|dan|unrestricted|jailbreak) mode)|from now on,? you (are|will|must|should)|pretend (that )?you are|act as if you)\b/i,
  /\b(new|updated|real|actual|secret|hidden) instructions?:/i,
  /\b(hidden|secret) instructions?\b/i,
  /\b(reveal|print|output|repeat|show|leak|disclose)( me)? (your|the) (system prompt|initial instructions|hidden instructions|instructions above)\b/i,
  /\b(do not|don['’]t|dont|never) (tell|inform|notify|alert|warn)( (this|it|that|anything))?( to)? (the |your )?(users?|human|operator)\b/i,
  /\b(do not|don['’]t|dont|never) (mention|reveal|disclose|show|say)( (this|it|that|anything))? to (the |your )?(users?|human|operator)\b/i,
  /\b(without|before) (asking|telling|informing|notifying|alerting|confirming with) (the |your )?(users?|human|operator)\b/i,
  /\bwithout (the )?(user|human)('s)? (knowledge|consent|permission|approval)\b/i,
  /<\|(im_start|im_end|system|user|assistant|endoftext)\|>/i,
  /\[\/?(INST|SYS)\]|<<\/?SYS>>/,
  /<\/?(important|system|instructions?|secret|hidden)>/i,
  /\b(forward|send|exfiltrate|upload|post|email|copy|leak|transmit)( (all|every|any|the|my|your|their|of))* (emails?|messages|files|secrets|credentials|keys|passwords|tokens|data|contents?|conversation|chat history) to\b/i,
  /\b(read|pass|include|send|attach|upload|provide|append)\b[^\n]{0,60}?(~\/\.ssh|\bid_rsa\b|\bid_ed25519\b|\.aws\/credentials|\bmcp\.json\b|\/etc\/(passwd|shadow)\b|\.netrc\b|\.git-credentials\b|\.kube\/config\b)/i,
];

/** Text as a model reads it: invisible characters gone, full-width forms folded, whitespace collapsed. */
function normalizeForScan(text: string): string {
  return text.replace(new RegExp(INVISIBLE.source, INVISIBLE.flags), '').normalize('NFKC').replace(/\s+/g, ' ');
}

/** The ASCII spelled by runs of tag characters: a message hidden from people, not from models. */
function hiddenTagText(text: string): string {
  const runs = text.match(/[\u{E0020}-\u{E007E}]+/gu);
  if (!runs) return '';
  return runs.map((run) => Array.from(run, (c) => tagAscii(c.codePointAt(0) ?? 0)).join('')).join(' ');
}

/** Phrases in untrusted text that read like instructions aimed at the model (hidden ones included). */
export function injectionSignals(text: string): string[] {
  const raw = sample(text);
  const found = new Set<string>();
  const scan = (visible: string, suffix: string) => {
    for (const pattern of INJECTION) {
      const match = pattern.exec(visible);
      if (match) found.add(`${match[0]}${suffix}`);
    }
  };
  scan(normalizeForScan(raw), '');
  const hidden = hiddenTagText(raw);
  if (hidden) scan(normalizeForScan(hidden), ' (hidden in tag characters)');
  return [...found];
}

// ─── risk ───────────────────────────────────────────────────────────────────

export type ToolAnnotations = { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean };

export type RiskInput = { annotations?: ToolAnnotations | null; description?: string | null; arguments: unknown };
export type RiskAssessment = { level: RiskLevel; flags: RiskFlag[] };

const HINTS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const;

/**
 * Flags a reviewer should see before deciding, and a level to sort and filter by. The
 * annotations are the server's own claims: they can raise the level, never lower it.
 */
export function assessRisk({ annotations, description, arguments: args }: RiskInput): RiskAssessment {
  const flags: RiskFlag[] = [];
  // annotations with no hint at all (`{}`, or only a title) say nothing about behaviour
  const hinted = !!annotations && HINTS.some((hint) => typeof annotations[hint] === 'boolean');
  // MCP's default for destructiveHint is true when a tool is not read-only
  if (annotations?.destructiveHint === true || (hinted && annotations?.readOnlyHint !== true && annotations?.destructiveHint === undefined))
    flags.push('destructive');
  if (annotations?.openWorldHint === true) flags.push('open-world');
  if (!hinted) flags.push('unannotated');
  if (findSecrets(args, 1).length > 0) flags.push('secrets');
  const texts = [description ?? '', ...strings(args)];
  if (texts.some((t) => injectionSignals(t).length > 0)) flags.push('injection');
  if (texts.some(hasInvisible)) flags.push('invisible-text');
  const high = flags.some((f) => f === 'destructive' || f === 'secrets' || f === 'injection' || f === 'invisible-text');
  const medium = flags.some((f) => f === 'open-world' || f === 'unannotated');
  return { level: high ? 'high' : medium ? 'medium' : 'low', flags };
}

/** Keys and string values, bounded by total size rather than count: a hidden instruction in the 201st string still counts. */
function strings(value: unknown, maxChars = 4 * SCAN_LIMIT): string[] {
  const out: string[] = [];
  let chars = 0;
  walk(value, ({ key, value: node }) => {
    for (const text of [typeof key === 'string' ? key : null, typeof node === 'string' ? node : null]) {
      if (text === null || chars >= maxChars) continue;
      out.push(text);
      chars += text.length;
    }
    return chars < maxChars;
  });
  return out;
}

type WalkNode = {
  value: unknown;
  /** This node's key or index in its parent; null at the root. */
  key: string | number | null;
  parent: WalkNode | null;
  /** The nearest object key at or above this node (array items inherit their array's key). */
  nearestKey: string | null;
};

/** A node's path from the root, built only when needed: copying paths on every step would be quadratic in depth. */
function pathOf(node: WalkNode): (string | number)[] {
  const path: (string | number)[] = [];
  for (let at: WalkNode | null = node; at && at.key !== null; at = at.parent) path.push(at.key);
  return path.reverse();
}

/**
 * Depth-first over every JSON node in document order (containers too, then their items),
 * iterative so hostile nesting cannot blow the stack, and bounded in nodes. `visit`
 * returns false to stop.
 */
function walk(value: unknown, visit: (node: WalkNode) => boolean, maxNodes = 1_000_000): void {
  const stack: WalkNode[] = [{ value, key: null, parent: null, nearestKey: null }];
  for (let nodes = 0; stack.length > 0 && nodes < maxNodes; nodes++) {
    const node = stack.pop()!;
    if (!visit(node)) return;
    const { value: container } = node;
    if (container === null || typeof container !== 'object') continue;
    // pushed in reverse so the visit order is document order
    if (Array.isArray(container)) {
      for (let i = container.length - 1; i >= 0; i--)
        stack.push({ value: container[i], key: i, parent: node, nearestKey: node.nearestKey });
    } else {
      const entries = Object.entries(container);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i];
        stack.push({ value: child, key, parent: node, nearestKey: key });
      }
    }
  }
}

function short(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
