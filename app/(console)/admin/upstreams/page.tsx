import type { Metadata } from 'next';
import { NotAllowed } from '@/components/admin/not-allowed';
import { UpstreamList } from '@/components/admin/upstream-list';
import { listUpstreamTools } from '@/server/config/upstream-tools';
import { allowed, requirePageUser } from '@/server/http/page-user';
import { db, runtime } from '@/server/runtime';

export const metadata: Metadata = { title: 'Upstreams · Admin · Airlock' };
export const dynamic = 'force-dynamic';

// /admin/upstreams — configured upstreams, their tools and each tool's action (upstreams.read)
export default async function UpstreamsPage() {
  const user = await requirePageUser('/admin/upstreams');
  const heading = (
    <div className="page-title">
      <h1>Upstreams</h1>
    </div>
  );
  if (!allowed(user, 'upstreams.read'))
    return (
      <>
        {heading}
        <NotAllowed what="view upstreams" permission="upstreams.read" role={user.role} />
      </>
    );
  const upstreams = await listUpstreamTools(db().orm, { config: runtime().config });
  return (
    <>
      {heading}
      <p className="muted">Upstreams come from the configuration file and change when Airlock restarts with a new one.</p>
      <UpstreamList upstreams={upstreams} />
    </>
  );
}
