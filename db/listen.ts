import { randomUUID } from 'node:crypto';
import type postgres from 'postgres';

/** What a NOTIFY of the probe carries: listeners drop it, whichever process sent it. */
const PROBE_PREFIX = 'airlock-probe:';

type Subscription = {
  channel: string;
  onPayload: (payload: string) => void;
  onResubscribed?: () => void;
  /** Bumped at each subscription: a callback of an earlier one delivers nothing. */
  generation: number;
  unlisten?: () => Promise<void>;
};

/**
 * LISTEN on PostgreSQL that stays subscribed. postgres.js re-subscribes once when its listening
 * connection drops; if that one attempt fails (the database still restarting), the channels are
 * gone for good and nothing says so. Here each channel in use is proven every `probeMs` by a
 * NOTIFY of its own that the subscription must hear back; a channel that stays silent while
 * the database answers is subscribed again, and its subscribers are told (`onResubscribed`),
 * since whatever was sent in the gap is lost and they must re-read what they follow.
 */
export class SupervisedListener {
  private readonly subscriptions = new Set<Subscription>();
  /** Per channel: the probe sent last and not yet heard, if any. */
  private readonly awaited = new Map<string, string>();
  private timer?: NodeJS.Timeout;
  private ticking = false;

  constructor(
    private readonly client: postgres.Sql,
    private readonly probeMs: number,
  ) {}

  async listen(channel: string, onPayload: (payload: string) => void, onResubscribed?: () => void): Promise<() => Promise<void>> {
    const subscription: Subscription = { channel, onPayload, onResubscribed, generation: 0 };
    await this.subscribe(subscription);
    this.subscriptions.add(subscription);
    this.timer ??= setInterval(() => void this.tick(), this.probeMs).unref();
    return async () => {
      this.subscriptions.delete(subscription);
      subscription.generation++;
      if (this.subscriptions.size === 0) this.stop();
      await subscription.unlisten?.();
    };
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async subscribe(subscription: Subscription): Promise<void> {
    const generation = ++subscription.generation;
    let first = true;
    const { unlisten } = await this.client.listen(
      subscription.channel,
      (payload) => {
        if (subscription.generation !== generation) return;
        if (payload.startsWith(PROBE_PREFIX)) {
          if (this.awaited.get(subscription.channel) === payload) this.awaited.delete(subscription.channel);
          return;
        }
        subscription.onPayload(payload);
      },
      // postgres.js calls this at the first LISTEN and again after re-subscribing by itself
      () => {
        if (first) first = false;
        else if (subscription.generation === generation) subscription.onResubscribed?.();
      },
    );
    subscription.unlisten = unlisten;
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      // a probe sent last time and never heard: that channel's subscription is gone
      for (const channel of [...this.awaited.keys()]) {
        for (const subscription of this.subscriptions) {
          if (subscription.channel !== channel) continue;
          await subscription.unlisten?.().catch(() => {});
          await this.subscribe(subscription);
          subscription.onResubscribed?.();
        }
        this.awaited.delete(channel);
      }
      const channels = [...new Set([...this.subscriptions].map((s) => s.channel))];
      if (channels.length === 0) return;
      const probe = `${PROBE_PREFIX}${randomUUID()}`;
      await this.client`select pg_notify(c, ${probe}) from unnest(${this.client.array(channels)}::text[]) c`;
      // only once the database took the probe: a database that is down proves nothing either way
      for (const channel of channels) this.awaited.set(channel, probe);
    } catch {
      // the database is unreachable, or re-subscribing failed: the next tick tries again
    } finally {
      this.ticking = false;
    }
  }
}
