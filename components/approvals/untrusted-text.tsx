'use client';

import { useMemo, useState } from 'react';
import { countInvisible, injectionSignals, invisibleMarker, segmentInvisible } from '../../server/lib/inspect';
import './arguments.css';

// Invariant 8: everything here is untrusted text. It reaches the page only as React text
// children (escaped), never as HTML, markdown or a link; invisible characters become marks.

/** Numbers in labels: one fixed locale, so server and browser render the same text. */
export const formatCount = (n: number) => n.toLocaleString('en-US');

export const plural = (n: number, one: string, many = `${one}s`) => `${formatCount(n)} ${n === 1 ? one : many}`;

/** Cut for display without splitting a surrogate pair (a lone half renders as �). */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/** Text with each invisible character or run shown as a marked chip naming it. */
export function VisibleText({ text }: { text: string }) {
  const segments = useMemo(() => segmentInvisible(text), [text]);
  return (
    <>
      {segments.map((segment, i) =>
        segment.invisible ? (
          // biome-ignore lint/suspicious/noArrayIndexKey: segments are positional and never reorder
          <mark key={i} className="invisible-char" title={segment.label}>
            {invisibleMarker(segment)}
          </mark>
        ) : (
          segment.text
        ),
      )}
    </>
  );
}

/** How much of a long text shows folded, and how much more each "Show more" adds. */
export const FOLD_AT = 300;
const CHUNK = 50_000;

type FoldedTextProps = {
  text: string;
  /** Characters shown while folded. */
  head?: number;
  /** Wrap in quotes (a JSON string on one line). */
  quoted?: boolean;
  /** Render as a text block (`<pre>`) that keeps line breaks. */
  block?: boolean;
  className?: string;
};

/**
 * A long untrusted string, folded: the first few hundred characters, then "Show all", then
 * at most 50,000 characters at a time, so a 1 MB value never lands in the page at once.
 */
export function FoldedText({ text, head = FOLD_AT, quoted = false, block = false, className }: FoldedTextProps) {
  const [shown, setShown] = useState(head);
  const visible = cutText(text, shown);
  const rest = text.length - visible.length;
  const Tag = block ? 'pre' : 'span';
  return (
    <>
      <Tag className={className}>
        {quoted && '"'}
        <VisibleText text={visible} />
        {rest > 0 && <span className="arg-ellipsis">…</span>}
        {quoted && '"'}
      </Tag>
      {(rest > 0 || shown > head) && (
        <span className="arg-fold-controls">
          {rest > 0 && shown <= head && (
            <button type="button" className="arg-button" onClick={() => setShown(CHUNK)}>
              Show all ({plural(text.length, 'character')})
            </button>
          )}
          {rest > 0 && shown > head && (
            <button type="button" className="arg-button" onClick={() => setShown((n) => n + CHUNK)}>
              Show more ({formatCount(rest)} of {plural(text.length, 'character')} not shown)
            </button>
          )}
          {shown > head && (
            <button type="button" className="arg-button" onClick={() => setShown(head)}>
              Fold
            </button>
          )}
        </span>
      )}
    </>
  );
}

/** A warning line naming how many invisible characters a text holds, or nothing. */
export function InvisibleNote({ count }: { count: number }) {
  if (count === 0) return null;
  return (
    <span className="arg-note" role="note">
      ⚠ {plural(count, 'invisible character')} (shown as ⟨U+…⟩ marks)
    </span>
  );
}

type UntrustedTextProps = {
  text: string;
  /**
   * The wrapping element. A `span` by default: everything inside is phrasing content, so it is
   * valid in a sentence, a <p>, a <dd> or a <strong> (a <div> in a <p> breaks hydration).
   */
  as?: 'span' | 'div' | 'p';
  /** Characters shown before "Show all" (tool descriptions are usually short: show more of them). */
  head?: number;
};

/**
 * A tool description or any other untrusted string as plain text: line breaks kept,
 * invisible characters marked, and a warning when it reads like instructions to the model.
 */
export function UntrustedText({ text, as: Tag = 'span', head = 2000 }: UntrustedTextProps) {
  const signals = useMemo(() => injectionSignals(text), [text]);
  const invisible = useMemo(() => countInvisible(text), [text]);
  return (
    <Tag className="untrusted-text">
      {signals.length > 0 && (
        <span className="untrusted-warning" role="note">
          ⚠ Reads like instructions to the model:{' '}
          {signals.slice(0, 5).map((signal, i) => (
            <span key={signal} className="untrusted-signal">
              {i > 0 && ', '}“<VisibleText text={cutText(signal, 80)} />”
            </span>
          ))}
          {signals.length > 5 && ` and ${formatCount(signals.length - 5)} more`}
        </span>
      )}
      <InvisibleNote count={invisible} />
      <span className="untrusted-body">
        <FoldedText text={text} head={head} />
      </span>
    </Tag>
  );
}
