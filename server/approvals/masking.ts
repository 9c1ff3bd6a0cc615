import { classifySecret, isSecretKey, secretKind, secretNameOf } from '../lib/inspect';

/**
 * Masking a tool call's arguments before they cross to the browser (invariant 8: secrets
 * masked). A client component's props are serialized into the page (the RSC payload), so
 * masking in the DOM alone would leave every secret readable in the page source: the server
 * replaces them here, and a reviewer fetches one at a time through the audited reveal API.
 *
 * Pure and browser-safe (the console imports its types). Which values are secrets is
 * `classifySecret`'s judgement (server/lib/inspect.ts) under the name `secretNameOf` finds
 * (everything under a secret key, objects included; the value of a `{ name, value }` pair
 * with a secret's name), the same one the gateway's risk flag uses; which keys are secrets
 * is `secretKind`'s, as the console always showed them.
 */

export type ArgumentPath = (string | number)[];

/**
 * One masked secret. `path` leads to it in the *masked* value (keys that were themselves
 * secrets appear there as their placeholders). `key: true` when the secret is the object
 * key at the end of `path`, not the value under it. Only the server's list makes a value
 * masked: an agent can send an object that looks like a marker, and it is shown as data.
 */
export type MaskedSecret = { path: ArgumentPath; kind: string; key?: true };

export type MaskedArguments = {
  /** The arguments with every secret value replaced by a marker and every secret key by a placeholder. */
  masked: unknown;
  /** The secrets a reviewer may reveal, in document order. */
  secrets: MaskedSecret[];
  /** Secrets masked but not listed (beyond the limits below): they cannot be revealed in the console. */
  unlisted: number;
};

/** The one key of the object that stands in for a masked value: `{ "$airlockMasked": "<kind>" }`. */
export const MASK_MARKER = '$airlockMasked';
/** Placeholders for masked keys: `$airlockMaskedKey1`, `$airlockMaskedKey2`, … (unique within their object). */
export const MASKED_KEY_PREFIX = '$airlockMaskedKey';
/** Secrets listed per value, like the console's count always was. */
export const MAX_LISTED_SECRETS = 1000;
/** Deepest path listed (and accepted by the reveal API): a path is copied into the page once per secret. */
export const MAX_SECRET_DEPTH = 1000;
/** Path elements listed over all secrets, so hostile nesting cannot multiply the page size. */
const MAX_LISTED_PATH_ELEMENTS = 100_000;

type Frame = {
  value: unknown;
  /** Key or index in the masked parent; null at the root. */
  key: string | number | null;
  parent: Frame | null;
  depth: number;
  /** The nearest raw key or pair name at or above this value that names a secret (`secretNameOf`). */
  secretName: string | null;
  /** Whether `secretName` is itself masked (a key or name shaped like a secret): then no kind may quote it. */
  secretNameMasked: boolean;
  /** The raw key and its kind, when the key this value sits under is itself a secret. */
  secretKey: { raw: string; kind: string } | null;
  /** Where the masked copy goes; null at the root. */
  into: Record<string, unknown> | unknown[] | null;
};

type Found = MaskedSecret & { raw: unknown };

/** A frame's path in the masked value, built only for listed secrets (copying paths per step would be quadratic in depth). */
function pathOf(frame: Frame): ArgumentPath {
  const path: ArgumentPath = [];
  for (let at: Frame | null = frame; at && at.key !== null; at = at.parent) path.push(at.key);
  return path.reverse();
}

/** Sets an own property even for `__proto__`, which JSON.parse creates as an ordinary key. */
function put(container: Record<string, unknown> | unknown[], slot: string | number, value: unknown): void {
  if (slot === '__proto__') Object.defineProperty(container, slot, { value, enumerable: true, writable: true, configurable: true });
  else (container as Record<string | number, unknown>)[slot] = value;
}

/** Children of a container, masked keys given placeholders that no key of the object already has. */
function childFrames(
  frame: Frame,
  node: object,
  into: Record<string, unknown> | unknown[],
  namesSecret: (name: string) => boolean,
): Frame[] {
  const depth = frame.depth + 1;
  const { secretName, secretNameMasked } = frame;
  if (Array.isArray(node))
    return node.map((value, i) => ({ value, key: i, parent: frame, depth, secretName, secretNameMasked, secretKey: null, into }));
  const entries = Object.entries(node);
  const taken = new Set(entries.map(([key]) => key));
  let placeholder = 0;
  return entries.map(([key, value]) => {
    const kind = secretKind(key);
    const name = secretNameOf(node, key, secretName, namesSecret);
    // a name shaped like a secret is masked where it stands (this key, or a pair's name beside it), so no kind may quote it
    const nameMasked =
      name === null ? false : name === key ? kind !== null : name === secretName ? secretNameMasked : secretKind(name) !== null;
    if (!kind) return { value, key, parent: frame, depth, secretName: name, secretNameMasked: nameMasked, secretKey: null, into };
    let slot: string;
    do slot = `${MASKED_KEY_PREFIX}${++placeholder}`;
    while (taken.has(slot));
    taken.add(slot);
    return { value, key: slot, parent: frame, depth, secretName: name, secretNameMasked: nameMasked, secretKey: { raw: key, kind }, into };
  });
}

/** `isSecretKey`, asking about each key once rather than once per object that has it (a million items share their keys). */
function cachedNamesSecret(): (name: string) => boolean {
  const verdicts = new Map<string, boolean>();
  return (name) => {
    let named = verdicts.get(name);
    if (named === undefined) {
      named = isSecretKey(name);
      verdicts.set(name, named);
    }
    return named;
  };
}

/**
 * The masked copy and every listed secret with its raw value. Iterative (hostile nesting
 * cannot blow the stack) and linear in the input: each node is visited once, each listed
 * path built once, within the limits above.
 */
function maskWalk(value: unknown): { masked: unknown; found: Found[]; unlisted: number } {
  const found: Found[] = [];
  let unlisted = 0;
  let pathBudget = MAX_LISTED_PATH_ELEMENTS;
  const list = (frame: Frame, kind: string, raw: unknown, key: boolean) => {
    if (found.length >= MAX_LISTED_SECRETS || frame.depth > MAX_SECRET_DEPTH || frame.depth > pathBudget) {
      unlisted++;
      return;
    }
    pathBudget -= frame.depth;
    found.push(key ? { path: pathOf(frame), kind, key: true, raw } : { path: pathOf(frame), kind, raw });
  };
  const namesSecret = cachedNamesSecret();
  let masked: unknown;
  const stack: Frame[] = [
    { value, key: null, parent: null, depth: 0, secretName: null, secretNameMasked: false, secretKey: null, into: null },
  ];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const { value: node } = frame;
    if (frame.secretKey) list(frame, frame.secretKey.kind, frame.secretKey.raw, true);
    let copy: unknown = node;
    if (node !== null && typeof node === 'object') {
      copy = Array.isArray(node) ? new Array(node.length) : {};
      const children = childFrames(frame, node, copy as Record<string, unknown> | unknown[], namesSecret);
      // pushed in reverse: visited, copied and listed in document order
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
    } else {
      // a value is a secret by the name it falls under, else by its own shape
      let kind = classifySecret(frame.secretName, node);
      // `value of "<name>"` must not quote a key or name that is itself masked
      if (kind && frame.secretNameMasked) kind = 'value of a masked key';
      if (kind) {
        list(frame, kind, node, false);
        copy = { [MASK_MARKER]: kind };
      }
    }
    if (frame.into && frame.key !== null) put(frame.into, frame.key, copy);
    else masked = copy;
  }
  return { masked, found, unlisted };
}

/**
 * The arguments as they may be sent to a browser: every value `classifySecret` flags is
 * replaced by `{ "$airlockMasked": "<kind>" }`, every key shaped like a secret by a
 * placeholder, and `secrets` lists where they are. A marker means "masked" only where
 * `secrets` lists its path.
 */
export function maskArguments(value: unknown): MaskedArguments {
  const { masked, found, unlisted } = maskWalk(value);
  return { masked, secrets: found.map(({ raw: _raw, ...secret }) => secret), unlisted };
}

const samePath = (a: ArgumentPath, b: ArgumentPath) => a.length === b.length && a.every((part, i) => part === b[i]);

/**
 * The raw secret that `maskArguments(value)` lists at `path` (the key itself when `key`),
 * or null when it lists none there: revealing is for masked secrets, not a general way
 * to read arguments.
 */
export function findMaskedSecret(value: unknown, path: ArgumentPath, key = false): { kind: string; value: unknown } | null {
  const hit = maskWalk(value).found.find((secret) => (secret.key === true) === key && samePath(secret.path, path));
  return hit ? { kind: hit.kind, value: hit.raw } : null;
}
