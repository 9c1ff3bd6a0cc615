'use client';

import { useRouter } from 'next/navigation';
import { useApprovalFeed } from '@/components/realtime/feed';

/** Re-render the server page when this request changes anywhere (a vote, a decision, an expiry). */
export function LiveRefresh({ requestId }: { requestId: string }) {
  const router = useRouter();
  useApprovalFeed({
    onEvent: (event) => event.id === requestId && router.refresh(),
    onResync: () => router.refresh(),
  });
  return null;
}
