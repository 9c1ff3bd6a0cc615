'use client';

import { useRouter, useSearchParams } from 'next/navigation';
import { useEffect, useRef, useState } from 'react';
import { useShortcuts } from '@/components/keyboard/use-shortcuts';
import { escapeInvisible } from '@/server/lib/inspect';
import { VisibleText } from './untrusted-text';

export const DENY_PRESETS = [
  'Not what the user asked for',
  'Looks like a prompt injection',
  'Wrong recipient or target',
  'Too risky without more context: ask the user first',
  'Arguments contain secrets that must not leave',
];

export type DecisionBarProps = {
  requestId: string;
  tool: string;
  /** Why this reviewer cannot approve (owner, role), or null when they can. */
  approveBlocked: string | null;
  /** Why this reviewer cannot decide at all, or null. */
  decideBlocked: string | null;
  alreadyVoted: boolean;
  allowEdit: boolean;
  maxGrantMinutes: number;
};

type Violation = { path: string; message: string };

const GRANT_CHOICES = [5, 15, 30, 60, 120, 240, 480, 1440];

/**
 * Approve, deny with a reason, approve with a session grant, or edit then approve. Every
 * action goes through the decision API, which re-checks permissions (the controls only
 * reflect them). A decision made elsewhere refreshes the page and these controls go away.
 */
export function DecisionBar(props: DecisionBarProps) {
  const router = useRouter();
  const search = useSearchParams();
  const [mode, setMode] = useState<'idle' | 'deny' | 'edit'>(() => {
    const action = search.get('action');
    return action === 'deny' ? 'deny' : action === 'edit' && props.allowEdit ? 'edit' : 'idle';
  });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [preset, setPreset] = useState('');
  const [reason, setReason] = useState('');
  const [grant, setGrant] = useState(false);
  const [grantMinutes, setGrantMinutes] = useState(() => GRANT_CHOICES.filter((m) => m <= props.maxGrantMinutes).at(-1) ?? 0);
  // invariant 8: the raw arguments are not in the page; they are fetched (audited) when the editor opens
  const [draft, setDraft] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [violations, setViolations] = useState<Violation[] | null>(null);
  const reasonRef = useRef<HTMLTextAreaElement>(null);
  const editRef = useRef<HTMLTextAreaElement>(null);

  const draftLoaded = draft !== null;
  useEffect(() => {
    if (mode === 'deny') reasonRef.current?.focus();
    if (mode === 'edit' && draftLoaded) editRef.current?.focus();
  }, [mode, draftLoaded]);

  // the reviewer's draft survives Cancel; the arguments are fetched once, when first needed
  useEffect(() => {
    if (mode !== 'edit' || draftLoaded) return;
    let current = true;
    setLoadError(null);
    void (async () => {
      const response = await fetch(`/api/approvals/${props.requestId}/arguments`, { method: 'POST', cache: 'no-store' }).catch(() => null);
      if (!current) return;
      if (response?.status === 401) return window.location.assign(`/signin?expired=1&callbackUrl=/approvals/${props.requestId}`);
      const payload = response?.ok ? ((await response.json().catch(() => null)) as { arguments?: unknown } | null) : null;
      if (!current) return;
      if (!payload || !('arguments' in payload))
        return setLoadError(`Could not load the arguments${response ? ` (HTTP ${response.status})` : ''}: cancel and try again.`);
      setDraft(escapeInvisible(JSON.stringify(payload.arguments, null, 2)));
    })();
    return () => {
      current = false;
    };
  }, [mode, draftLoaded, props.requestId]);

  const blocked = props.decideBlocked !== null || props.alreadyVoted;
  const canApprove = !blocked && props.approveBlocked === null;

  async function submit(body: Record<string, unknown>) {
    setBusy(true);
    setError(null);
    const response = await fetch(`/api/approvals/${props.requestId}/decision`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).catch(() => null);
    setBusy(false);
    if (!response) return setError('Network error: nothing was decided. Try again.');
    if (response.status === 401) return window.location.assign(`/signin?expired=1&callbackUrl=/approvals/${props.requestId}`);
    if (!response.ok) {
      const payload = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
      setError(payload?.error?.message ?? `The decision failed (HTTP ${response.status}).`);
      router.refresh();
      return;
    }
    setMode('idle');
    router.refresh();
  }

  const approve = () => submit({ decision: 'approve', ...(grant && grantMinutes > 0 ? { grantMinutes } : {}) });
  const deny = () => submit({ decision: 'deny', reason: [preset, reason.trim()].filter(Boolean).join(': ') || undefined });

  function parsedDraft(): Record<string, unknown> | null {
    if (draft === null) return null;
    try {
      const value = JSON.parse(draft) as unknown;
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
      return value as Record<string, unknown>;
    } catch {
      setViolations([{ path: '', message: 'the arguments must be a JSON object' }]);
      return null;
    }
  }

  async function check(): Promise<boolean> {
    const value = parsedDraft();
    if (!value) return false;
    const response = await fetch(`/api/approvals/${props.requestId}/check`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ arguments: value }),
    }).catch(() => null);
    if (!response?.ok) {
      setError('Could not check the arguments.');
      return false;
    }
    const result = (await response.json()) as { violations: Violation[] };
    setViolations(result.violations);
    return result.violations.length === 0;
  }

  async function approveEdited() {
    const value = parsedDraft();
    if (!value || !(await check())) return;
    await submit({ decision: 'approve', arguments: value });
  }

  useShortcuts(
    {
      a: () => canApprove && mode === 'idle' && void approve(),
      d: () => setMode('deny'),
      e: () => props.allowEdit && canApprove && setMode('edit'),
      // biome-ignore lint/correctness/noComponentHookFactories: a key name, not a component
      Escape: () => setMode('idle'),
    },
    !blocked,
  );

  if (props.decideBlocked) {
    return (
      <section className="decision-bar card" aria-label="Decision">
        <p className="muted">{props.decideBlocked}</p>
      </section>
    );
  }
  if (props.alreadyVoted) {
    return (
      <section className="decision-bar card" aria-label="Decision">
        <p>You have voted on this request; it waits for other approvers.</p>
      </section>
    );
  }

  return (
    <section className="decision-bar card" aria-label="Decision">
      {error ? (
        <p className="alert alert-error" role="alert">
          {error}
        </p>
      ) : null}
      {props.approveBlocked ? <p className="muted">{props.approveBlocked}</p> : null}

      {mode === 'deny' ? (
        <form
          className="stack"
          onSubmit={(e) => {
            e.preventDefault();
            void deny();
          }}
        >
          <fieldset className="presets">
            <legend>Reason (sent back to the agent)</legend>
            {DENY_PRESETS.map((p) => (
              <label key={p} className="preset">
                <input type="radio" name="preset" value={p} checked={preset === p} onChange={() => setPreset(p)} /> {p}
              </label>
            ))}
          </fieldset>
          <div className="field">
            <label htmlFor="deny-reason">Details (optional)</label>
            <textarea
              id="deny-reason"
              ref={reasonRef}
              value={reason}
              maxLength={1500}
              onChange={(e) => setReason(e.target.value)}
              rows={3}
            />
          </div>
          <div className="decision-actions">
            <button type="submit" className="btn btn-deny" disabled={busy}>
              Deny
            </button>
            <button type="button" className="btn" onClick={() => setMode('idle')}>
              Cancel
            </button>
          </div>
        </form>
      ) : mode === 'edit' ? (
        <form
          className="stack"
          onSubmit={(e) => {
            e.preventDefault();
            void approveEdited();
          }}
        >
          <div className="field">
            {draft === null ? (
              loadError ? (
                <p className="alert alert-error" role="alert">
                  {loadError}
                </p>
              ) : (
                <p className="muted" role="status">
                  Loading the arguments…
                </p>
              )
            ) : (
              <>
                <label htmlFor="edit-arguments">Arguments to approve instead (JSON)</label>
                <textarea
                  id="edit-arguments"
                  ref={editRef}
                  value={draft}
                  spellCheck={false}
                  rows={Math.min(16, draft.split('\n').length + 1)}
                  onChange={(e) => {
                    setDraft(e.target.value);
                    setViolations(null);
                  }}
                  aria-describedby="edit-help"
                />
              </>
            )}
            <p id="edit-help" className="muted">
              The agent is told that a reviewer edited its arguments; the audit log keeps both versions’ digests.
            </p>
          </div>
          {violations && violations.length > 0 ? (
            <ul className="alert alert-error" role="alert" aria-label="Schema violations">
              {violations.map((v) => (
                <li key={`${v.path}:${v.message}`}>
                  <code>
                    <VisibleText text={v.path || '/'} />
                  </code>{' '}
                  <VisibleText text={v.message} />
                </li>
              ))}
            </ul>
          ) : violations ? (
            <p className="alert alert-ok" role="status">
              The arguments match the tool’s input schema.
            </p>
          ) : null}
          <div className="decision-actions">
            <button type="submit" className="btn btn-approve" disabled={busy || draft === null}>
              Approve edited call
            </button>
            <button type="button" className="btn" disabled={draft === null} onClick={() => void check()}>
              Check
            </button>
            <button type="button" className="btn" onClick={() => setMode('idle')}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <div className="stack">
          {props.maxGrantMinutes > 0 && canApprove ? (
            <div className="row grant-choice">
              <label className="check">
                <input type="checkbox" checked={grant} onChange={(e) => setGrant(e.target.checked)} /> Also allow{' '}
                <code>
                  <VisibleText text={props.tool} />
                </code>{' '}
                in this session for
              </label>
              <label htmlFor="grant-minutes" className="visually-hidden">
                Grant duration
              </label>
              <select id="grant-minutes" value={grantMinutes} onChange={(e) => setGrantMinutes(Number(e.target.value))} disabled={!grant}>
                {GRANT_CHOICES.filter((m) => m <= props.maxGrantMinutes).map((m) => (
                  <option key={m} value={m}>
                    {m < 60 ? `${m} minutes` : `${m / 60} hours`}
                  </option>
                ))}
              </select>
            </div>
          ) : null}
          <div className="decision-actions">
            <button
              type="button"
              className="btn btn-approve"
              disabled={busy || !canApprove}
              onClick={() => void approve()}
              aria-keyshortcuts="a"
            >
              {grant ? 'Approve and allow' : 'Approve'}
            </button>
            <button type="button" className="btn btn-deny" disabled={busy} onClick={() => setMode('deny')} aria-keyshortcuts="d">
              Deny…
            </button>
            {props.allowEdit && canApprove ? (
              <button type="button" className="btn" disabled={busy} onClick={() => setMode('edit')} aria-keyshortcuts="e">
                Edit, then approve…
              </button>
            ) : null}
          </div>
        </div>
      )}
    </section>
  );
}
