'use client';

import { createContext, type ReactNode, useContext, useMemo, useState } from 'react';
import type { MaskedArguments, MaskedSecret } from '../../server/approvals/masking';
import { countInvisible } from '../../server/lib/inspect';
import { cutText, FOLD_AT, FoldedText, formatCount, InvisibleNote, plural, VisibleText } from './untrusted-text';
import './arguments.css';

// Invariant 8: a tool call's arguments come from an agent that may be prompt-injected. They
// are shown as React text only, secrets masked until a reviewer asks, invisible characters
// marked, and everything large folded so a hostile 1 MB argument cannot freeze the page.
// Secrets never reach this component: the server masks them (server/approvals/masking.ts),
// since props are serialized into the page, and "Reveal" fetches one through the audited API.

/** Entries of an array or object shown at first, and added by each "Show more". */
const PAGE = 100;
const MAX_PAGE = 1000;
/** Rows rendered open on first paint, across the whole tree; deeper containers start closed. */
const OPEN_BUDGET = 200;
/** Containers deeper than this start closed, however small: a reviewer opens them one by one. */
const OPEN_DEPTH = 12;
/** Nesting beyond this stops indenting, so deep values still fit a 390 px screen. */
const MAX_INDENT = 6;

type Container = Record<string, unknown> | unknown[];

const isContainer = (value: unknown): value is Container => value !== null && typeof value === 'object';
/** The first `limit` entries, without building tuples for a million-item array. */
const entriesOf = (value: Container, limit = Number.POSITIVE_INFINITY): [string | number, unknown][] =>
  Array.isArray(value) ? value.slice(0, limit).map((item, i) => [i, item]) : Object.entries(value).slice(0, limit);
const sizeOf = (value: Container) => (Array.isArray(value) ? value.length : Object.keys(value).length);

/** Which containers start open: breadth-first from the top, until about OPEN_BUDGET rows are showing. */
function initiallyOpen(root: unknown): WeakSet<object> {
  const open = new WeakSet<object>();
  if (!isContainer(root)) return open;
  let budget = OPEN_BUDGET;
  const queue: { node: Container; depth: number }[] = [{ node: root, depth: 0 }];
  for (let next = queue.shift(); next && budget > 0; next = queue.shift()) {
    open.add(next.node);
    const shown = entriesOf(next.node, PAGE);
    budget -= shown.length;
    if (next.depth + 1 >= OPEN_DEPTH) continue;
    for (const [, child] of shown) if (isContainer(child) && sizeOf(child) > 0) queue.push({ node: child, depth: next.depth + 1 });
  }
  return open;
}

/**
 * The server's list of masked secrets as a tree shaped like the value, so each row finds
 * its own entry in one step. Only listed paths are masked: an object an agent sent that
 * merely looks like a mask marker is shown as the data it is.
 */
type SecretTree = { children?: Map<string | number, SecretTree>; value?: MaskedSecret; key?: MaskedSecret };

function secretTree(secrets: readonly MaskedSecret[]): SecretTree {
  const root: SecretTree = {};
  for (const secret of secrets) {
    let node = root;
    for (const part of secret.path) {
      node.children ??= new Map();
      let child = node.children.get(part);
      if (!child) {
        child = {};
        node.children.set(part, child);
      }
      node = child;
    }
    if (secret.key) node.key = secret;
    else node.value = secret;
  }
  return root;
}

/** Invisible characters in every key and string, for the summary above the tree (bounded in nodes); masked values do not count. */
function invisibleTotal(value: unknown, secrets: SecretTree): number {
  let total = 0;
  const stack: { node: unknown; tree: SecretTree | undefined }[] = [{ node: value, tree: secrets }];
  for (let visited = 0; stack.length > 0 && visited < 1_000_000; visited++) {
    const { node, tree } = stack.pop()!;
    if (tree?.value) continue;
    if (typeof node === 'string') total += countInvisible(node);
    if (!isContainer(node)) continue;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) stack.push({ node: node[i], tree: tree?.children?.get(i) });
      continue;
    }
    for (const [key, child] of Object.entries(node)) {
      const childTree = tree?.children?.get(key);
      if (!childTree?.key) total += countInvisible(key);
      stack.push({ node: child, tree: childTree });
    }
  }
  return total;
}

/** Which request's secrets the Reveal buttons fetch. */
type RevealSource = { requestId: string; which: 'arguments' | 'approved' };
const RevealContext = createContext<RevealSource | null>(null);

type ArgumentViewProps = {
  /** The arguments as `maskArguments` returned them on the server: never the raw value. */
  masked: MaskedArguments;
  requestId: string;
  /** The agent's arguments, or the ones a reviewer edited and approved. */
  which?: 'arguments' | 'approved';
  label?: string;
};

/** A tool call's arguments as a readable, collapsible tree of untrusted text. */
export function ArgumentView({ masked, requestId, which = 'arguments', label }: ArgumentViewProps) {
  const { masked: value, secrets: list, unlisted } = masked;
  const secrets = useMemo(() => secretTree(list), [list]);
  const open = useMemo(() => initiallyOpen(value), [value]);
  const invisible = useMemo(() => invisibleTotal(value, secrets), [value, secrets]);
  const values = list.filter((s) => !s.key).length;
  const keys = list.length - values;
  const source = useMemo(() => ({ requestId, which }), [requestId, which]);
  return (
    <section className="argument-view" aria-label={label ?? 'Arguments'}>
      {label && <div className="argument-caption">{label}</div>}
      {(invisible > 0 || list.length > 0 || unlisted > 0) && (
        <ul className="argument-alerts">
          {invisible > 0 && (
            <li className="alert alert-warn">
              {plural(invisible, 'invisible character')} found. Each is shown as a marked ⟨U+…⟩ chip; the model reads them, people do not.
            </li>
          )}
          {values > 0 && (
            <li className="alert">
              {values === 1
                ? '1 value looks like a secret and is masked.'
                : `${formatCount(values)} values look like secrets and are masked.`}
            </li>
          )}
          {keys > 0 && (
            <li className="alert">
              {keys === 1 ? '1 key looks like a secret and is masked.' : `${formatCount(keys)} keys look like secrets and are masked.`}
            </li>
          )}
          {unlisted > 0 && (
            <li className="alert">
              {plural(unlisted, 'more secret')} masked without a Reveal (too many, or nested too deep, to list): each shows as{' '}
              <code>$airlockMasked</code> with its kind.
            </li>
          )}
        </ul>
      )}
      <RevealContext.Provider value={source}>
        <div className="arg-tree">
          <Value value={value} secrets={secrets} depth={0} open={open} />
        </div>
      </RevealContext.Provider>
    </section>
  );
}

type ValueProps = {
  value: unknown;
  /** The masked secrets at and under this value, from the server's list. */
  secrets: SecretTree | undefined;
  depth: number;
  open: WeakSet<object>;
  /** The value's own key, when it is an object entry. */
  name?: string;
  /** Punctuation after the value (`,`). */
  tail?: string;
};

function Value(props: ValueProps) {
  const { value, ...rest } = props;
  // a listed secret first: its marker is an object, but it is one masked value
  if (props.secrets?.value) return <MaskedRow {...props} secret={props.secrets.value} />;
  if (isContainer(value)) return <Branch value={value} {...rest} />;
  return <LeafRow {...props} />;
}

/** One primitive on its own row, after its key. */
function LeafRow({ value, secrets, name, tail }: ValueProps) {
  const multiline = typeof value === 'string' && value.includes('\n');
  const folded = typeof value === 'string' && value.length > FOLD_AT;
  return (
    <div className={multiline ? 'arg-row arg-row-block' : 'arg-row'}>
      {name !== undefined && <Key name={name} secret={secrets?.key} />}
      <Leaf value={value} />
      {/* no comma after a text block or a folded string: it would sit alone after a button */}
      {tail && !multiline && !folded && <span className="arg-punct">{tail}</span>}
    </div>
  );
}

/** A masked value on its own row: its kind and a Reveal that fetches it. */
function MaskedRow({ secrets, name, secret }: ValueProps & { secret: MaskedSecret }) {
  return (
    <div className="arg-row">
      {name !== undefined && <Key name={name} secret={secrets?.key} />}
      {/* no comma after a masked value: it would sit alone after a button */}
      <Secret secret={secret} kind={secret.kind} render={(value) => <Leaf value={value} />} />
    </div>
  );
}

/** A primitive: a string (quoted, or a text block when it spans lines), number, boolean or null. */
function Leaf({ value }: { value: unknown }) {
  if (typeof value === 'string') return <StringValue text={value} />;
  if (typeof value === 'number') return <span className="arg-number">{String(value)}</span>;
  if (typeof value === 'boolean') return <span className="arg-boolean">{String(value)}</span>;
  if (value === null) return <span className="arg-null">null</span>;
  // not JSON (undefined, bigint…): say what it is rather than guess
  return <span className="arg-null">{typeof value}</span>;
}

function StringValue({ text }: { text: string }) {
  const invisible = useMemo(() => countInvisible(text), [text]);
  const block = text.includes('\n');
  return (
    <>
      <InvisibleNote count={invisible} />
      {block ? <FoldedText text={text} block className="arg-block" /> : <FoldedText text={text} quoted className="arg-string" />}
    </>
  );
}

type Revealed =
  | { state: 'hidden' }
  | { state: 'loading' }
  | { state: 'shown' | 'fetched'; value: unknown }
  | { state: 'failed'; message: string };

/** Why a reveal failed, in a few words a reviewer can act on. */
async function revealError(response: Response | null): Promise<string> {
  if (!response) return 'Network error: try again.';
  if (response.status === 401) return 'Your session ended: sign in again to reveal.';
  const payload = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
  return payload?.error?.message ?? `Could not reveal (HTTP ${response.status}).`;
}

/**
 * A masked secret: its kind and a Reveal toggle. The value is not in the page at all: the
 * first Reveal fetches it (an audited request), later toggles hide and show it again.
 */
function Secret({ secret, kind, render }: { secret: MaskedSecret; kind: string; render: (value: unknown) => ReactNode }) {
  const source = useContext(RevealContext);
  const [revealed, setRevealed] = useState<Revealed>({ state: 'hidden' });
  const shown = revealed.state === 'shown';

  async function toggle() {
    if (revealed.state === 'shown') return setRevealed({ state: 'fetched', value: revealed.value });
    if (revealed.state === 'fetched') return setRevealed({ state: 'shown', value: revealed.value });
    if (revealed.state === 'loading' || !source) return;
    setRevealed({ state: 'loading' });
    const response = await fetch(`/api/approvals/${encodeURIComponent(source.requestId)}/reveal`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: secret.path, which: source.which, ...(secret.key ? { key: true } : {}) }),
      cache: 'no-store',
    }).catch(() => null);
    if (!response?.ok) return setRevealed({ state: 'failed', message: await revealError(response) });
    const { value } = (await response.json()) as { value: unknown };
    setRevealed({ state: 'shown', value });
  }

  return (
    <span className="arg-secret">
      {revealed.state === 'shown' ? (
        render(revealed.value)
      ) : (
        <span className="arg-mask" role="img" aria-label="masked">
          ••••••••
        </span>
      )}
      <span className="arg-secret-kind">
        <VisibleText text={cutText(kind, 100)} />
      </span>
      <button
        type="button"
        className="arg-button"
        aria-pressed={shown}
        aria-busy={revealed.state === 'loading' || undefined}
        onClick={() => void toggle()}
      >
        Reveal<span className="visually-hidden"> {cutText(kind, 100)}</span>
      </button>
      {revealed.state === 'failed' && (
        <span className="arg-secret-error" role="alert">
          {revealed.message}
        </span>
      )}
    </span>
  );
}

/** An object key: quoted and folded when long, or masked when the server masked it. */
function Key({ name, secret }: { name: string; secret?: MaskedSecret }) {
  return (
    <>
      {secret ? (
        <Secret
          secret={secret}
          kind={`key: ${secret.kind}`}
          render={(key) => <FoldedText text={String(key)} head={120} quoted className="arg-key" />}
        />
      ) : (
        <FoldedText text={name} head={120} quoted className="arg-key" />
      )}
      <span className="arg-punct">: </span>
    </>
  );
}

/**
 * A container's key inside its <summary>, which must hold no buttons (it is a button
 * itself): shortened instead of folded, masked without a Reveal when the server masked it.
 */
function SummaryKey({ name, secret }: { name: string; secret?: MaskedSecret }) {
  return (
    <>
      {secret ? (
        <span className="arg-secret">
          <span className="arg-mask" role="img" aria-label="masked">
            ••••••••
          </span>
          <span className="arg-secret-kind">
            key: <VisibleText text={cutText(secret.kind, 100)} />
          </span>
        </span>
      ) : (
        <span className="arg-key">
          "<VisibleText text={cutText(name, 120)} />
          {name.length > 120 && <span className="arg-ellipsis">…</span>}"
        </span>
      )}
      <span className="arg-punct">: </span>
    </>
  );
}

/** An object or array: collapsible, its entries paged so a huge one renders 100 at a time. */
function Branch({ value, secrets, depth, open: openSet, name, tail }: ValueProps & { value: Container }) {
  const [open, setOpen] = useState(() => openSet.has(value));
  const [limit, setLimit] = useState(PAGE);
  const array = Array.isArray(value);
  const size = sizeOf(value);
  const [start, end] = array ? ['[', ']'] : ['{', '}'];
  const count = array ? plural(size, 'item') : plural(size, 'key');
  if (size === 0) {
    return (
      <div className="arg-row">
        {name !== undefined && <Key name={name} secret={secrets?.key} />}
        <span className="arg-punct">
          {start}
          {end}
          {tail}
        </span>
      </div>
    );
  }
  const entries = open ? entriesOf(value, limit) : [];
  const hidden = size - entries.length;
  // the rest at once when it is at most a thousand ("Show 900 more"), else a thousand at a time
  const step = Math.min(hidden, MAX_PAGE);
  return (
    <details className="arg-branch" open={open} onToggle={(event) => setOpen(event.currentTarget.open)}>
      <summary className="arg-summary">
        {name !== undefined && <SummaryKey name={name} secret={secrets?.key} />}
        <span className="arg-punct">{start}</span>
        {!open && (
          <>
            <span className="arg-punct">…{end}</span>
            {tail && <span className="arg-punct">{tail}</span>}
          </>
        )}
        <span className="arg-count">{count}</span>
      </summary>
      {open && (
        <>
          <div className={depth + 1 >= MAX_INDENT ? 'arg-children arg-flat' : 'arg-children'}>
            {entries.map(([key, child], i) => (
              <Value
                key={key}
                value={child}
                secrets={secrets?.children?.get(key)}
                depth={depth + 1}
                open={openSet}
                name={typeof key === 'string' ? key : undefined}
                tail={i < size - 1 ? ',' : undefined}
              />
            ))}
            {hidden > 0 && (
              <button type="button" className="arg-button arg-more" onClick={() => setLimit((n) => n + step)}>
                Show {formatCount(step)} more{hidden > step ? ` (${formatCount(hidden)} not shown)` : ''}
              </button>
            )}
          </div>
          <div className="arg-punct">
            {end}
            {tail}
          </div>
        </>
      )}
    </details>
  );
}
