'use client';

import { useEffect, useRef, useState } from 'react';

type Props = {
  /** Visible text of the first button, e.g. "Revoke". */
  label: string;
  /** Its accessible name when the visible text alone is ambiguous in a list, e.g. "Revoke ci-bot". */
  ariaLabel?: string;
  /** The question asked before acting, e.g. "Revoke ci-bot? Its token stops working at once." */
  question: string;
  /** Text of the confirming button, e.g. "Yes, revoke ci-bot" (styled as dangerous with `danger`). */
  confirmLabel: string;
  onConfirm: () => Promise<void> | void;
  busy?: boolean;
  danger?: boolean;
};

/** A two-step button: the first press asks, the second acts; Escape or Cancel backs out. */
export function ConfirmButton({ label, ariaLabel, question, confirmLabel, onConfirm, busy = false, danger = false }: Props) {
  const [asking, setAsking] = useState(false);
  const confirmRef = useRef<HTMLButtonElement>(null);
  const openerRef = useRef<HTMLButtonElement>(null);
  const wasAsking = useRef(false);

  useEffect(() => {
    if (asking) confirmRef.current?.focus();
    else if (wasAsking.current) openerRef.current?.focus();
    wasAsking.current = asking;
  }, [asking]);

  if (!asking)
    return (
      <button ref={openerRef} type="button" className="btn" aria-label={ariaLabel} disabled={busy} onClick={() => setAsking(true)}>
        {label}
      </button>
    );

  return (
    // biome-ignore lint/a11y/useSemanticElements: a fieldset would add a legend and a border inside a table cell
    <div
      className="admin-confirm"
      role="group"
      aria-label={question}
      onKeyDown={(event) => {
        if (event.key === 'Escape') setAsking(false);
      }}
    >
      <p className="admin-confirm-question">{question}</p>
      <div className="row">
        <button
          ref={confirmRef}
          type="button"
          className={danger ? 'btn btn-deny' : 'btn btn-primary'}
          disabled={busy}
          onClick={async () => {
            await onConfirm();
            setAsking(false);
          }}
        >
          {busy ? 'Working…' : confirmLabel}
        </button>
        <button type="button" className="btn" onClick={() => setAsking(false)}>
          Cancel
        </button>
      </div>
    </div>
  );
}
