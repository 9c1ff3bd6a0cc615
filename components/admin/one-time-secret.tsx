'use client';

import { useEffect, useId, useRef } from 'react';
import { CopyButton } from '@/components/ui/copy-button';

type Props = {
  /** A heading for the panel, e.g. "Password for ana@example.com". */
  title: string;
  /** What the secret is, used in labels: "password", "token". */
  kind: string;
  value: string;
  /** What to do with it, shown under the value. */
  hint?: string;
  onDone: () => void;
  children?: React.ReactNode;
};

/**
 * A secret Airlock shows exactly once (it stores only a hash): the value, a copy button,
 * and a "Done" that forgets it. Focus moves here so keyboard and screen-reader users find it.
 */
export function OneTimeSecret({ title, kind, value, hint, onDone, children }: Props) {
  const ref = useRef<HTMLElement>(null);
  const id = useId();
  useEffect(() => ref.current?.focus(), []);
  return (
    <section ref={ref} className="card admin-secret stack" tabIndex={-1} aria-labelledby={id}>
      <h3 id={id}>{title}</h3>
      <p className="alert alert-warn">Copy the {kind} now: it is shown only this once and cannot be displayed again.</p>
      <dl className="facts">
        <dt>{kind.charAt(0).toUpperCase() + kind.slice(1)}</dt>
        <dd>
          <code className="admin-secret-value">{value}</code>
        </dd>
      </dl>
      {hint ? <p className="muted">{hint}</p> : null}
      <div className="row">
        <CopyButton value={value} label={`Copy ${kind}`} className="btn btn-primary" />
      </div>
      {children}
      <div className="row">
        <button type="button" className="btn" onClick={onDone}>
          Done, hide the {kind}
        </button>
      </div>
    </section>
  );
}
