'use client';

import { useEffect, useRef } from 'react';

export const SHORTCUTS: [string, string][] = [
  ['j / k', 'next / previous request'],
  ['Enter or o', 'open the selected request'],
  ['a', 'approve'],
  ['d', 'deny (asks for a reason)'],
  ['e', 'edit the arguments, then approve'],
  ['/', 'search'],
  ['?', 'this help'],
];

/** The keyboard help, a native modal dialog (focus trapped, Escape closes). */
export function HelpDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} onClose={onClose} aria-labelledby="help-title" className="card">
      <h2 id="help-title">Keyboard shortcuts</h2>
      <dl className="facts">
        {SHORTCUTS.map(([keys, what]) => (
          <div key={keys} style={{ display: 'contents' }}>
            <dt>
              <kbd>{keys}</kbd>
            </dt>
            <dd>{what}</dd>
          </div>
        ))}
      </dl>
      <div className="row" style={{ marginTop: '1rem' }}>
        <button type="button" className="btn" onClick={onClose}>
          Close
        </button>
      </div>
    </dialog>
  );
}
