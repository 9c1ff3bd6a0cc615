'use client';

import { useEffect, useRef } from 'react';

/** Key → action. Keys are `KeyboardEvent.key` values ('j', 'k', '/', '?', 'Enter'). */
export type Shortcuts = Record<string, (event: KeyboardEvent) => void>;

function typing(target: EventTarget | null): boolean {
  const element = target as HTMLElement | null;
  if (!element) return false;
  return element.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(element.tagName);
}

/** Single-key shortcuts, ignored while typing in a field or with a modifier held. */
export function useShortcuts(shortcuts: Shortcuts, enabled = true): void {
  const ref = useRef(shortcuts);
  ref.current = shortcuts;
  useEffect(() => {
    if (!enabled) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
      if (document.querySelector('dialog[open]') && event.key !== 'Escape') return;
      const action = ref.current[event.key];
      if (!action) return;
      event.preventDefault();
      action(event);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [enabled]);
}
