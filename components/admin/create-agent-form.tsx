'use client';

import { useRouter } from 'next/navigation';
import { type FormEvent, useId, useState } from 'react';
import { ClientConfigList } from './client-config-list';
import { LabelField } from './label-field';
import { OneTimeSecret } from './one-time-secret';
import { apiRequest } from './request';

type Owner = { email: string; name: string | null };
type Created = { name: string; upstreams: string[]; token: string };

type Props = {
  /** Enabled users, any of whom may own an agent. */
  owners: Owner[];
  /** Upstream names in the running configuration. */
  upstreams: string[];
  publicUrl: string;
};

/** Register an agent; its token and ready client configurations are shown once. */
export function CreateAgentForm({ owners, upstreams, publicUrl }: Props) {
  const router = useRouter();
  const id = useId();
  const [access, setAccess] = useState<'all' | 'some'>('all');
  const [selected, setSelected] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<Created | null>(null);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    if (access === 'some' && selected.length === 0) {
      setError('Choose at least one upstream, or allow all upstreams.');
      return;
    }
    const body = {
      name: String(data.get('name') ?? '').trim(),
      ownerEmail: String(data.get('ownerEmail') ?? ''),
      upstreams: access === 'all' ? [] : selected,
    };
    setBusy(true);
    setError(null);
    setCreated(null);
    const result = await apiRequest<{ agent: { name: string; upstreams: string[] }; token: string }>('/api/agents', 'POST', body);
    setBusy(false);
    if (!result.ok) {
      setError(result.message);
      return;
    }
    form.reset();
    setAccess('all');
    setSelected([]);
    setCreated({ name: result.data.agent.name, upstreams: result.data.agent.upstreams, token: result.data.token });
    router.refresh();
  }

  const toggle = (name: string, on: boolean) => setSelected((current) => (on ? [...current, name] : current.filter((n) => n !== name)));

  return (
    <section className="card stack" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Create an agent</h2>
      <p className="muted">An agent is an MCP client identity with its own token. Its owner can see its calls but cannot approve them.</p>
      <form onSubmit={onSubmit} className="admin-form" aria-describedby={error ? `${id}-error` : undefined}>
        <div className="admin-grid">
          <LabelField id={`${id}-name`} label="Agent name" hint="Letters, digits, “.”, “-” or “_”, e.g. ci-bot." />
          <div className="field">
            <label htmlFor={`${id}-owner`}>Owner</label>
            <select id={`${id}-owner`} name="ownerEmail" required defaultValue="">
              <option value="" disabled>
                Choose a user…
              </option>
              {owners.map((owner) => (
                <option key={owner.email} value={owner.email}>
                  {owner.name ? `${owner.name} (${owner.email})` : owner.email}
                </option>
              ))}
            </select>
          </div>
        </div>
        <fieldset className="admin-fieldset">
          <legend>Upstreams the agent may use</legend>
          <label className="admin-choice">
            <input type="radio" name="access" value="all" checked={access === 'all'} onChange={() => setAccess('all')} />
            All upstreams (including ones configured later)
          </label>
          <label className="admin-choice">
            <input type="radio" name="access" value="some" checked={access === 'some'} onChange={() => setAccess('some')} />
            Only the upstreams checked below
          </label>
          {access === 'some' ? (
            upstreams.length === 0 ? (
              <p className="muted">No upstream is configured.</p>
            ) : (
              <div className="admin-checks">
                {upstreams.map((name) => (
                  <label key={name} className="admin-choice">
                    <input
                      type="checkbox"
                      name="upstreams"
                      value={name}
                      checked={selected.includes(name)}
                      onChange={(e) => toggle(name, e.target.checked)}
                    />
                    <code>{name}</code>
                  </label>
                ))}
              </div>
            )
          ) : null}
        </fieldset>
        {error ? (
          <p id={`${id}-error`} className="alert alert-error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create agent'}
        </button>
      </form>
      {created ? (
        <OneTimeSecret
          title={`Agent ${created.name} created`}
          kind="token"
          value={created.token}
          hint="Airlock keeps only a hash of it. Put it in the agent's MCP client configuration; if it is lost, revoke the agent and create a new one."
          onDone={() => setCreated(null)}
        >
          <ClientConfigList
            publicUrl={publicUrl}
            upstreams={created.upstreams.length > 0 ? created.upstreams : upstreams}
            token={created.token}
            agentName={created.name}
          />
        </OneTimeSecret>
      ) : null}
    </section>
  );
}
