'use client';

import { useId, useState } from 'react';
import { CopyButton } from '@/components/ui/copy-button';
import { clientConfigs } from './client-config';

type Props = {
  publicUrl: string;
  /** Upstreams to choose from (the agent's, or every configured one when it may reach all). */
  upstreams: readonly string[];
  token: string;
  agentName: string;
};

/** MCP client configurations for an agent, one host per expandable block, each copyable. */
export function ClientConfigList({ publicUrl, upstreams, token, agentName }: Props) {
  const id = useId();
  const [upstream, setUpstream] = useState(upstreams[0] ?? '');
  if (!upstream) return <p className="muted">No upstream is configured yet, so there is nothing to connect to.</p>;
  const configs = clientConfigs({ publicUrl, upstream, token, agentName });
  return (
    <div className="stack admin-configs">
      <h4>Connect an MCP client</h4>
      {upstreams.length > 1 ? (
        <div className="field">
          <label htmlFor={`${id}-upstream`}>Upstream for the configuration</label>
          <select id={`${id}-upstream`} value={upstream} onChange={(event) => setUpstream(event.target.value)}>
            {upstreams.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </div>
      ) : (
        <p className="muted">
          Upstream <code>{upstream}</code>, endpoint <code>{`${publicUrl.replace(/\/+$/, '')}/mcp/${upstream}`}</code>
        </p>
      )}
      {configs.map((config, index) => (
        <details key={config.label} className="admin-config" open={index === 0}>
          <summary>{config.label}</summary>
          <pre className="admin-code">
            <code>{config.text}</code>
          </pre>
          {config.note ? <p className="muted admin-hint">{config.note}</p> : null}
          <CopyButton value={config.text} label="Copy" ariaLabel={`Copy ${config.label} configuration`} />
        </details>
      ))}
    </div>
  );
}
