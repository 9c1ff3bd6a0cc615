/**
 * A name Airlock shows in logs, the console and the CLI (agents, tokens): the browser checks
 * the pattern the server enforces (ZLabel), so a bad name is caught before it is sent.
 */
export function LabelField({ id, label, hint }: { id: string; label: string; hint: string }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        name="name"
        type="text"
        autoComplete="off"
        required
        maxLength={64}
        pattern="[a-zA-Z0-9][a-zA-Z0-9._\-]{0,63}"
        aria-describedby={`${id}-hint`}
      />
      <p id={`${id}-hint`} className="muted admin-hint">
        {hint}
      </p>
    </div>
  );
}
