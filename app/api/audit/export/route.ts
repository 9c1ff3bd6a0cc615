import { exportAudit } from '@/server/audit/search';
import { withUser } from '@/server/http/route';
import { db } from '@/server/runtime';

export const dynamic = 'force-dynamic';

// GET /api/audit/export — the whole chain as JSON lines, verifiable offline
export const GET = withUser({ permission: 'audit.read' }, async () => {
  const lines = exportAudit(db().orm);
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await lines.next();
      if (done) controller.close();
      else controller.enqueue(encoder.encode(value));
    },
    async cancel() {
      await lines.return(undefined);
    },
  });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return new Response(body, {
    headers: { 'content-type': 'application/x-ndjson', 'content-disposition': `attachment; filename="airlock-audit-${stamp}.jsonl"` },
  });
});
