'use client';

import { type ReactNode, useMemo, useState } from 'react';
import { classifySecret, countInvisible, findSecrets, secretKind } from '../../server/lib/inspect';
import { cutText, FOLD_AT, FoldedText, formatCount, InvisibleNote, plural, VisibleText } from './untrusted-text';
import './arguments.css';

// Invariant 8: a tool call's arguments come from an agent that may be prompt-injected. They
// are shown as React text only, secrets masked until a reviewer asks, invisible characters
// marked, and everything large folded so a hostile 1 MB argument cannot freeze the page.

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

/** Invisible characters in every key and string, for the summary above the tree (bounded in nodes). */
function invisibleTotal(value: unknown): number {
  let total = 0;
  const stack: unknown[] = [value];
  for (let visited = 0; stack.length > 0 && visited < 1_000_000; visited++) {
    const node = stack.pop();
    if (typeof node === 'string') total += countInvisible(node);
    if (!isContainer(node)) continue;
    if (Array.isArray(node)) {
      for (const item of node) stack.push(item);
      continue;
    }
    for (const [key, child] of Object.entries(node)) {
      total += countInvisible(key);
      stack.push(child);
    }
  }
  return total;
}

type ArgumentViewProps = { value: unknown; label?: string };

/** A tool call's arguments as a readable, collapsible tree of untrusted text. */
export function ArgumentView({ value, label }: ArgumentViewProps) {
  const open = useMemo(() => initiallyOpen(value), [value]);
  const invisible = useMemo(() => invisibleTotal(value), [value]);
  const secrets = useMemo(() => findSecrets(value, 1000).length, [value]);
  return (
    <section className="argument-view" aria-label={label ?? 'Arguments'}>
      {label && <div className="argument-caption">{label}</div>}
      {(invisible > 0 || secrets > 0) && (
        <ul className="argument-alerts">
          {invisible > 0 && (
            <li className="alert alert-warn">
              {plural(invisible, 'invisible character')} found. Each is shown as a marked ⟨U+…⟩ chip; the model reads them, people do not.
            </li>
          )}
          {secrets > 0 && (
            <li className="alert">
              {secrets === 1
                ? '1 value looks like a secret and is masked.'
                : `${formatCount(secrets)} values look like secrets and are masked.`}
            </li>
          )}
        </ul>
      )}
      <div className="arg-tree">
        <Value value={value} secretKey={null} depth={0} open={open} />
      </div>
    </section>
  );
}

type ValueProps = {
  value: unknown;
  /** The nearest object key above this value: array items inherit it (`passwords: [...]`). */
  secretKey: string | null;
  depth: number;
  open: WeakSet<object>;
  /** The value's own key, when it is an object entry. */
  name?: string;
  /** Punctuation after the value (`,`). */
  tail?: string;
};

function Value(props: ValueProps) {
  const { value, ...rest } = props;
  if (isContainer(value)) return <Branch value={value} {...rest} />;
  return <LeafRow {...props} />;
}

/** One primitive on its own row, after its key; masked when it is a secret. */
function LeafRow({ value, secretKey, name, tail }: ValueProps) {
  // scanning a long string for secrets is not free: once per value, not once per render
  const kind = useMemo(() => classifySecret(secretKey, value), [secretKey, value]);
  const render = () => <Leaf value={value} />;
  const multiline = typeof value === 'string' && value.includes('\n');
  const folded = typeof value === 'string' && value.length > FOLD_AT;
  return (
    <div className={multiline ? 'arg-row arg-row-block' : 'arg-row'}>
      {name !== undefined && <Key name={name} />}
      {kind ? <Secret kind={kind} render={render} /> : render()}
      {/* no comma after a text block, a folded string or a masked value: it would sit alone after a button */}
      {tail && !multiline && !kind && !folded && <span className="arg-punct">{tail}</span>}
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

/** A masked value: its kind and a Reveal toggle. The value is not rendered at all until revealed. */
function Secret({ kind, render }: { kind: string; render: () => ReactNode }) {
  const [revealed, setRevealed] = useState(false);
  return (
    <span className="arg-secret">
      {revealed ? (
        render()
      ) : (
        <span className="arg-mask" role="img" aria-label="masked">
          ••••••••
        </span>
      )}
      <span className="arg-secret-kind">
        <VisibleText text={cutText(kind, 100)} />
      </span>
      <button type="button" className="arg-button" aria-pressed={revealed} onClick={() => setRevealed((r) => !r)}>
        Reveal<span className="visually-hidden"> {cutText(kind, 100)}</span>
      </button>
    </span>
  );
}

/** An object key: quoted, folded when long, masked when it is itself shaped like a secret. */
function Key({ name }: { name: string }) {
  const kind = useMemo(() => secretKind(name), [name]);
  const key = <FoldedText text={name} head={120} quoted className="arg-key" />;
  return (
    <>
      {kind ? <Secret kind={`key: ${kind}`} render={() => key} /> : key}
      <span className="arg-punct">: </span>
    </>
  );
}

/**
 * A container's key inside its <summary>, which must hold no buttons (it is a button
 * itself): shortened instead of folded, masked without a Reveal when shaped like a secret.
 */
function SummaryKey({ name }: { name: string }) {
  const kind = useMemo(() => secretKind(name), [name]);
  return (
    <>
      {kind ? (
        <span className="arg-secret">
          <span className="arg-mask" role="img" aria-label="masked">
            ••••••••
          </span>
          <span className="arg-secret-kind">key: {kind}</span>
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
function Branch({ value, secretKey, depth, open: openSet, name, tail }: ValueProps & { value: Container }) {
  const [open, setOpen] = useState(() => openSet.has(value));
  const [limit, setLimit] = useState(PAGE);
  const array = Array.isArray(value);
  const size = sizeOf(value);
  const [start, end] = array ? ['[', ']'] : ['{', '}'];
  const count = array ? plural(size, 'item') : plural(size, 'key');
  if (size === 0) {
    return (
      <div className="arg-row">
        {name !== undefined && <Key name={name} />}
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
        {name !== undefined && <SummaryKey name={name} />}
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
                secretKey={typeof key === 'string' ? key : secretKey}
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
