'use client';

import { useEffect, useRef, useState } from 'react';

type Props = {
  /** The text to copy (a secret stays in memory only). */
  value: string;
  /** The button's visible text, e.g. "Copy token". */
  label: string;
  /** An accessible name when several copy buttons share a visible label. */
  ariaLabel?: string;
  className?: string;
};

/**
 * Copy to the clipboard, with a fallback for plain-http consoles where the Clipboard API
 * is unavailable; the outcome is announced to screen readers.
 */
export function CopyButton({ value, label, ariaLabel, className = 'btn' }: Props) {
  const [status, setStatus] = useState<'idle' | 'copied' | 'failed'>('idle');
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);

  async function copy() {
    let done = false;
    try {
      await navigator.clipboard.writeText(value);
      done = true;
    } catch {
      done = legacyCopy(value);
    }
    setStatus(done ? 'copied' : 'failed');
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => setStatus('idle'), 4000);
  }

  return (
    <span className="copy">
      <button type="button" className={className} aria-label={ariaLabel} onClick={() => void copy()}>
        {label}
      </button>
      <span role="status" aria-live="polite" className="muted copy-status">
        {status === 'copied' ? 'Copied' : status === 'failed' ? 'Copy failed: select the text and copy it by hand' : ''}
      </span>
    </span>
  );
}

function legacyCopy(value: string): boolean {
  const area = document.createElement('textarea');
  area.value = value;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  try {
    return document.execCommand('copy');
  } catch {
    return false;
  } finally {
    area.remove();
  }
}
