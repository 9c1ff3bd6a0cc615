import type { Metadata } from 'next';
import { AgentTable } from '@/components/admin/agent-table';
import { CreateAgentForm } from '@/components/admin/create-agent-form';
import { NotAllowed } from '@/components/admin/not-allowed';
import { listAgents } from '@/server/auth/agents';
import { listUsers } from '@/server/auth/users';
import { allowed, requirePageUser } from '@/server/http/page-user';
import { db, runtime } from '@/server/runtime';

export const metadata: Metadata = { title: 'Agents · Admin · Airlock' };
export const dynamic = 'force-dynamic';

// /admin/agents — agent identities and their tokens (agents.manage)
export default async function AgentsPage() {
  const user = await requirePageUser('/admin/agents');
  const heading = (
    <div className="page-title">
      <h1>Agents</h1>
    </div>
  );
  if (!allowed(user, 'agents.manage'))
    return (
      <>
        {heading}
        <NotAllowed what="manage agents" permission="agents.manage" role={user.role} />
      </>
    );
  const [agents, users] = await Promise.all([listAgents(db()), listUsers(db())]);
  const { config, publicUrl } = runtime();
  // active agents first, each group by name
  const sorted = [...agents].sort((a, b) => Number(a.revokedAt !== null) - Number(b.revokedAt !== null) || a.name.localeCompare(b.name));
  return (
    <>
      {heading}
      <div className="stack">
        <CreateAgentForm
          owners={users.filter((u) => !u.disabled).map((u) => ({ email: u.email, name: u.name }))}
          upstreams={Object.keys(config.upstreams).sort()}
          publicUrl={publicUrl}
        />
        <section className="card stack" aria-labelledby="agents-title">
          <h2 id="agents-title">
            All agents <span className="muted">({agents.length})</span>
          </h2>
          <AgentTable
            agents={sorted.map((a) => ({
              id: a.id,
              name: a.name,
              ownerEmail: a.ownerEmail,
              upstreams: a.upstreams,
              createdAt: a.createdAt.toISOString(),
              revokedAt: a.revokedAt ? a.revokedAt.toISOString() : null,
            }))}
          />
        </section>
      </div>
    </>
  );
}
