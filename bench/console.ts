/**
 * The `console` phase: the reviewer console in Chromium (playwright-core, launched with the
 * test suite's flags) against an Airlock child that serves the Next console.
 *
 *  1. Live, empty queue: an agent makes held calls one at a time; each is timed from the
 *     moment the call is sent to the moment its `.queue-item` enters the open page's DOM (a
 *     MutationObserver installed before any script of the page), split at the NOTIFY (relayed
 *     by the child) and at the socket.io message (a listener on the page's WebSocket, added
 *     before socket.io's own). The reviewer then denies the call, so the agent's call ends.
 *  2. N pending requests are seeded into the database (bench/airlock-child.ts, `seed`).
 *  3. First page with them: navigation start → the first `.queue-item` and the count are in
 *     the DOM, and the next animation frame ("visible"); TTFB, FCP, LCP, and when the socket
 *     is live. The first load in a fresh browser context (cold HTTP cache), then reloads.
 *  4. Live again with the N pending, in the default order (oldest first) and in "least time
 *     left" order: a new call sorts after the 50 shown in the first, before them in the second.
 *
 * Browser times are read on the page's clock (`performance.timeOrigin + performance.now()`)
 * and moved to the benchmark's by an offset measured with page.evaluate round trips.
 * Everything run in the page is a string: tsx wraps named functions in `__name(…)`, which
 * does not exist in the browser.
 */
import { existsSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CHROMIUM, launch, signIn } from '../test/helpers/browser';
import type { ConsoleUser, SeedResult } from './airlock-child';
import type { Reviewer } from './reviewer';
import { epochMs, round, type Summary, sleep, summarize } from './stats';
import type { AirlockTarget, Session } from './targets';

export type ConsoleOptions = {
  /** Pending requests to seed before the first-page and the second live measurement. */
  seed: number;
  /** Held calls per live measurement (after 3 warm-up calls). */
  calls: number;
  /** Navigations to `/` for the first-page figures (the first with a cold cache). */
  loads: number;
  log: (message: string) => void;
};

/** One navigation to the queue, ms from navigation start. */
export type PageTiming = {
  ttfb: number;
  domContentLoaded: number;
  load: number;
  fcp: number | null;
  lcp: number | null;
  /** The LCP element, e.g. `li.queue-item` or `h1`. */
  lcpElement: string | null;
  /** The first `.queue-item` in the DOM (parsed from the server's HTML). */
  firstItem: number;
  countShown: number;
  /**
   * The first row and the count on screen: the first animation frame once both are in the
   * DOM, and not before the first contentful paint (a frame can run while paint is held).
   */
  visible: number;
  /** The socket.io feed connected (the page is hydrated and follows events). */
  live: number;
  items: number;
  total: number;
  htmlKiB: number;
};

export type FirstPageResult = {
  pending: number;
  loads: number;
  visible: Summary;
  ttfb: Summary;
  fcp: Summary;
  lcp: Summary;
  domContentLoaded: Summary;
  live: Summary;
  cold: PageTiming;
  runs: PageTiming[];
};

export type LiveResult = {
  /** What the page showed when the calls arrived. */
  queue: string;
  path: string;
  pendingBefore: number;
  calls: number;
  /** Calls whose `.queue-item` appeared on the page (within `domTimeoutMs`). */
  shown: number;
  domTimeoutMs: number;
  /** Set when the calls stopped early because none was shown. */
  gaveUp?: string;
  /** Call sent by the agent → its `.queue-item` in the page's DOM. */
  sentToDom: Summary;
  sentToNotify: Summary;
  /** NOTIFY in the Airlock process → the socket.io message at the page. */
  notifyToSocket: Summary;
  /** socket.io message → `.queue-item` in the DOM (React state update, render, commit). */
  socketToDom: Summary;
  /** `.queue-item` in the DOM → the next animation frame. */
  domToFrame: Summary;
  /** Call sent → the count badge shows it (coalesced 200 ms, then GET /api/queue). */
  sentToCount: Summary;
  /** The reviewer's decision sent → the item gone from the DOM. */
  decisionToGone: Summary;
  clock: { offsetMs: number; uncertaintyMs: number };
};

export type ConsoleResult = {
  browser: string;
  reviewer: string;
  seeded: SeedResult;
  firstPage: FirstPageResult;
  live: LiveResult[];
  pageErrors: string[];
};

/** Why the phase cannot run here, if it cannot. */
export function consoleSkipReason(build: 'fresh' | 'stale' | 'missing'): string | undefined {
  if (!existsSync(CHROMIUM)) return `Chromium not found at ${CHROMIUM} (install Debian's chromium package, or set CHROMIUM_PATH)`;
  if (build === 'missing') return 'the console has no production build (.next): run `npx next build` first';
  return undefined;
}

/**
 * Installed in every document before its scripts. Times are performance.now() of the page
 * (ms since navigation start); `origin` turns them into the page's epoch milliseconds.
 */
const PROBE = `(() => {
  const b = { firstItem: 0, countShown: 0, visible: 0, live: 0, lcp: 0, lcpElement: null, seen: {}, frame: {}, gone: {}, socket: {}, counts: [] };
  window.__bench = b;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      this.addEventListener('message', (event) => {
        const t = performance.now();
        if (typeof event.data !== 'string' || !event.data.startsWith('42["approval"')) return;
        const m = /^42\\["approval",\\{"id":"([^"]+)","status":"([^"]+)"/.exec(event.data);
        if (m && b.socket[m[1] + ':' + m[2]] === undefined) b.socket[m[1] + ':' + m[2]] = t;
      });
    }
  };
  try {
    new PerformanceObserver((list) => {
      const entries = list.getEntries();
      const last = entries[entries.length - 1];
      if (!last) return;
      b.lcp = last.startTime;
      b.lcpElement = last.element ? last.element.tagName.toLowerCase() + (last.element.classList[0] ? '.' + last.element.classList[0] : '') : null;
    }).observe({ type: 'largest-contentful-paint', buffered: true });
  } catch {}
  const itemsOf = (node) => node.matches('.queue-item[data-request-id]') ? [node] : node.querySelectorAll('.queue-item[data-request-id]');
  let lastCount = '';
  let framing = false;
  new MutationObserver((records) => {
    const t = performance.now();
    for (const r of records) {
      for (const node of r.addedNodes) {
        if (!(node instanceof Element)) continue;
        for (const item of itemsOf(node)) {
          const id = item.getAttribute('data-request-id');
          if (b.seen[id] !== undefined) continue;
          b.seen[id] = t;
          requestAnimationFrame(() => { b.frame[id] = performance.now(); });
        }
      }
      for (const node of r.removedNodes) {
        if (!(node instanceof Element) || node.isConnected) continue;
        for (const item of itemsOf(node)) {
          const id = item.getAttribute('data-request-id');
          if (b.seen[id] !== undefined && b.gone[id] === undefined) b.gone[id] = t;
        }
      }
    }
    if (!b.firstItem && document.querySelector('.queue-item')) b.firstItem = t;
    const badge = document.querySelector('h1 .badge');
    const text = badge && badge.firstChild ? (badge.firstChild.textContent || '').trim() : '';
    if (text !== '' && text !== lastCount) {
      lastCount = text;
      b.counts.push([t, Number(text)]);
      if (!b.countShown) b.countShown = t;
    }
    if (!b.visible && !framing && b.firstItem && b.countShown) {
      framing = true;
      requestAnimationFrame(() => { b.visible = performance.now(); });
    }
    if (!b.live && document.querySelector('.live-live')) b.live = t;
  }).observe(document, { childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ['class'] });
})();`;

const VIEWPORT = { width: 1280, height: 900 };
const WARMUP = 3;

/** Offset of the page's epoch clock from the benchmark's, from the fastest of 20 round trips. */
async function clockOffset(page: Page): Promise<{ offsetMs: number; uncertaintyMs: number }> {
  let best = { offsetMs: 0, uncertaintyMs: Number.POSITIVE_INFINITY };
  for (let i = 0; i < 20; i++) {
    const t0 = epochMs();
    const at = (await page.evaluate('performance.timeOrigin + performance.now()')) as number;
    const t1 = epochMs();
    if ((t1 - t0) / 2 < best.uncertaintyMs) best = { offsetMs: at - (t0 + t1) / 2, uncertaintyMs: (t1 - t0) / 2 };
  }
  return { offsetMs: round(best.offsetMs, 2), uncertaintyMs: round(best.uncertaintyMs, 2) };
}

const badgeCount = (page: Page) =>
  page.evaluate(`Number((document.querySelector('h1 .badge')?.firstChild?.textContent ?? '').trim())`) as Promise<number>;

/** What the probe keeps on `window.__bench` (times: performance.now() of the page). */
type ProbeState = {
  visible: number;
  live: number;
  seen: Record<string, number>;
  frame: Record<string, number>;
  gone: Record<string, number>;
  counts: [number, number][];
};

/** What `until` can wait for; every field given must hold. */
type Condition = {
  live?: boolean;
  visible?: boolean;
  seen?: string;
  frame?: string;
  gone?: string;
  /** The count badge showed `n` at or after page time `after`, or (`last`) shows it now. */
  count?: { n: number; after?: number; last?: boolean };
};

/**
 * Resolves when the condition holds in the page; false on timeout. A function, not a string:
 * the console's CSP forbids eval, which Playwright needs to poll a string expression.
 */
const until = (page: Page, condition: Condition, timeout: number) =>
  page
    .waitForFunction(
      (c: Condition) => {
        const b = (window as unknown as { __bench: ProbeState }).__bench;
        if (c.live && !(b.live > 0)) return false;
        if (c.visible && !(b.visible > 0)) return false;
        if (c.seen !== undefined && b.seen[c.seen] === undefined) return false;
        if (c.frame !== undefined && b.frame[c.frame] === undefined) return false;
        if (c.gone !== undefined && b.gone[c.gone] === undefined) return false;
        if (c.count?.last) return b.counts.length > 0 && b.counts[b.counts.length - 1][1] === c.count.n;
        if (c.count) return b.counts.some(([t, n]) => n === c.count?.n && t >= (c.count.after ?? 0));
        return true;
      },
      condition,
      { timeout, polling: 'raf' },
    )
    .then(
      () => true,
      (error: Error) => {
        if (error.name === 'TimeoutError') return false;
        throw error;
      },
    );

/** The NOTIFYs of new pending requests, in order (the agent's calls are one at a time). */
class PendingNotices {
  private queue: { id: string; at: number }[] = [];
  private waiter?: () => void;

  push(id: string, at: number): void {
    this.queue.push({ id, at });
    this.waiter?.();
  }

  clear(): void {
    this.queue = [];
  }

  async next(timeoutMs: number): Promise<{ id: string; at: number }> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      if (Date.now() > deadline) throw new Error(`no NOTIFY of a new pending request within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.queue.shift()!;
  }
}

type Call = {
  sent: number;
  notified: number;
  socket?: number;
  dom?: number;
  frame?: number;
  count?: number;
  decided: number;
  gone?: number;
};

type LiveOptions = {
  page: Page;
  origin: string;
  path: string;
  queue: string;
  calls: number;
  domTimeoutMs: number;
  /** Stop after this many calls if none of them was shown. */
  giveUpAfter?: number;
};

/** Held calls one at a time while the queue page is open; each is denied once timed. */
async function liveCalls(
  airlock: AirlockTarget,
  session: Session,
  reviewer: Reviewer,
  notices: PendingNotices,
  options: LiveOptions,
  log: ConsoleOptions['log'],
): Promise<LiveResult> {
  const { page, path, calls } = options;
  const pendingBefore = await airlock.request<number>({ op: 'countPending' });
  log(`  live (${options.queue}, ${path}): ${calls} held calls, ${pendingBefore} pending`);
  await page.goto(`${options.origin}${path}`);
  if (!(await until(page, { live: true }, 30_000))) throw new Error(`the console at ${path} never went live`);
  await sleep(500); // the resync after connecting settles
  const clock = await clockOffset(page);
  const origin = (await page.evaluate('performance.timeOrigin')) as number;
  const toBench = (t: number | undefined | null) => (t === undefined || t === null ? undefined : origin + t - clock.offsetMs);
  const toPage = (t: number) => t + clock.offsetMs - origin;

  const samples: Call[] = [];
  let gaveUp: string | undefined;
  for (let i = -WARMUP; i < calls; i++) {
    const before = await badgeCount(page);
    notices.clear();
    const sent = epochMs();
    const call = session.client.callTool({ name: 'echo_risky', arguments: { message: `console-${i}` } }, undefined, { timeout: 120_000 });
    call.catch(() => {});
    const { id, at: notified } = await notices.next(15_000);
    const key = JSON.stringify(id);
    const shown = await until(page, { seen: id }, options.domTimeoutMs);
    if (shown) await until(page, { frame: id }, 2000);
    await until(page, { count: { n: before + 1, after: toPage(sent) } }, 3000);
    const marks = (await page.evaluate(
      `(() => { const b = window.__bench, id = ${key}, c = b.counts.find(([t, n]) => n === ${before + 1} && t >= ${toPage(sent)});
        return { socket: b.socket[id + ':pending'], dom: b.seen[id], frame: b.frame[id], count: c ? c[0] : undefined }; })()`,
    )) as { socket?: number; dom?: number; frame?: number; count?: number };

    const decided = epochMs();
    await reviewer.decide(id, 'deny');
    const result = await call;
    if (!result.isError) throw new Error(`held call ${id} was denied but the agent got ${JSON.stringify(result).slice(0, 200)}`);
    if (shown) await until(page, { gone: id }, 5000);
    const gone = (await page.evaluate(`window.__bench.gone[${key}]`)) as number | undefined;
    // the count back where it was, so that the next call's count is its own
    await until(page, { count: { n: before, last: true } }, 3000);

    if (i < 0) continue;
    samples.push({
      sent,
      notified,
      socket: toBench(marks.socket),
      dom: toBench(marks.dom),
      frame: toBench(marks.frame),
      count: toBench(marks.count),
      decided,
      gone: toBench(gone),
    });
    const limit = options.giveUpAfter;
    if (limit && samples.length >= limit && samples.every((s) => s.dom === undefined)) {
      gaveUp = `none of the first ${limit} calls appeared on the page within ${options.domTimeoutMs} ms: stopped`;
      break;
    }
  }
  const pick = (f: (c: Call) => number | undefined) => samples.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
  return {
    queue: options.queue,
    path,
    pendingBefore,
    calls: samples.length,
    shown: samples.filter((s) => s.dom !== undefined).length,
    domTimeoutMs: options.domTimeoutMs,
    gaveUp,
    sentToDom: summarize(pick((c) => c.dom && c.dom - c.sent)),
    sentToNotify: summarize(pick((c) => c.notified - c.sent)),
    notifyToSocket: summarize(pick((c) => c.socket && c.socket - c.notified)),
    socketToDom: summarize(pick((c) => c.dom && c.socket && c.dom - c.socket)),
    domToFrame: summarize(pick((c) => c.frame && c.dom && c.frame - c.dom)),
    sentToCount: summarize(pick((c) => c.count && c.count - c.sent)),
    decisionToGone: summarize(pick((c) => c.gone && c.gone - c.decided)),
    clock,
  };
}

/** Navigation to `/` → the queue's first page, `loads` times: first in a fresh context (cold cache), then reloads. */
async function firstPage(
  browser: Browser,
  storageState: Awaited<ReturnType<BrowserContext['storageState']>>,
  origin: string,
  loads: number,
  pending: number,
  pageErrors: string[],
): Promise<FirstPageResult> {
  const context = await browser.newContext({ storageState, viewport: VIEWPORT });
  try {
    await context.addInitScript({ content: PROBE });
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    const runs: PageTiming[] = [];
    for (let i = 0; i < loads; i++) {
      if (i === 0) await page.goto(`${origin}/`, { waitUntil: 'load' });
      else await page.reload({ waitUntil: 'load' });
      if (!(await until(page, { visible: true, live: true }, 30_000))) {
        throw new Error(`the queue page did not show a request and go live (load ${i + 1}): ${page.url()}`);
      }
      await sleep(300); // the LCP candidate settles
      const timing = (await page.evaluate(`(() => {
        const n = performance.getEntriesByType('navigation')[0];
        const fcp = performance.getEntriesByName('first-contentful-paint')[0];
        const b = window.__bench;
        return {
          ttfb: n.responseStart, domContentLoaded: n.domContentLoadedEventEnd, load: n.loadEventEnd,
          fcp: fcp ? fcp.startTime : null, lcp: b.lcp || null, lcpElement: b.lcpElement,
          firstItem: b.firstItem, countShown: b.countShown, visible: Math.max(b.visible, fcp ? fcp.startTime : 0), live: b.live,
          items: document.querySelectorAll('.queue-item').length,
          total: Number((document.querySelector('h1 .badge')?.firstChild?.textContent ?? '').trim()),
          htmlKiB: n.decodedBodySize / 1024,
        };
      })()`)) as PageTiming;
      runs.push(Object.fromEntries(Object.entries(timing).map(([k, v]) => [k, typeof v === 'number' ? round(v, 1) : v])) as PageTiming);
    }
    const all = (f: (t: PageTiming) => number | null) => summarize(runs.map(f).filter((x): x is number => x !== null));
    return {
      pending,
      loads,
      visible: all((t) => t.visible),
      ttfb: all((t) => t.ttfb),
      fcp: all((t) => t.fcp),
      lcp: all((t) => t.lcp),
      domContentLoaded: all((t) => t.domContentLoaded),
      live: all((t) => t.live),
      cold: runs[0],
      runs,
    };
  } finally {
    await context.close();
  }
}

export async function consolePhase(airlock: AirlockTarget, reviewer: Reviewer, options: ConsoleOptions): Promise<ConsoleResult> {
  const { log } = options;
  log(`console (${airlock.name}): Chromium, reviewer over ${reviewer.kind}; ${options.seed} seeded pending requests`);
  const user = await airlock.request<ConsoleUser>({ op: 'consoleUser' });
  const browser = await launch();
  const pageErrors: string[] = [];
  const notices = new PendingNotices();
  const unsubscribe = await reviewer.onChange((change, at) => {
    if (change.status === 'pending') notices.push(change.id, at);
  });
  const session = await airlock.connect();
  try {
    const context = await browser.newContext({ viewport: VIEWPORT });
    await context.addInitScript({ content: PROBE });
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await signIn(page, airlock.origin, user.email, user.password);
    const result = await session.client.callTool({ name: 'echo', arguments: { message: 'warm' } }); // spawns the upstream
    if (result.isError) throw new Error(`echo failed: ${JSON.stringify(result).slice(0, 200)}`);

    const live: LiveResult[] = [];
    const common = { page, origin: airlock.origin, calls: options.calls };
    live.push(
      await liveCalls(airlock, session, reviewer, notices, { ...common, path: '/', queue: 'empty queue', domTimeoutMs: 10_000 }, log),
    );

    const seeded = await airlock.request<SeedResult>({ op: 'seed', count: options.seed });
    seeded.ms = round(seeded.ms, 0);
    log(`  seeded ${seeded.seeded} pending requests in ${seeded.ms} ms (${seeded.batches} batches)`);
    // the seeding holds the Airlock process's event loop for seconds: its delay figure starts after it
    await airlock.request({ op: 'loopDelay' });
    const pending = await airlock.request<number>({ op: 'countPending' });
    log(`  first page: ${options.loads} loads of / with ${pending} pending`);
    const first = await firstPage(browser, await context.storageState(), airlock.origin, options.loads, pending, pageErrors);

    const full = `${pending} pending`;
    // oldest first: a new call sorts after the 50 shown, so by design it is not put on this page
    // (the page counts it as unseen and offers newest first); only the count is measured here
    live.push(
      await liveCalls(
        airlock,
        session,
        reviewer,
        notices,
        { ...common, path: '/', queue: `${full}, oldest first`, domTimeoutMs: 2000, giveUpAfter: 5 },
        log,
      ),
    );
    // newest first: a new call sorts first on a full page
    live.push(
      await liveCalls(
        airlock,
        session,
        reviewer,
        notices,
        { ...common, path: '/?sort=newest', queue: `${full}, newest first`, domTimeoutMs: 10_000 },
        log,
      ),
    );
    // least time left: the seeded requests expire in 2 h, a new call in 1 h, so it sorts first
    live.push(
      await liveCalls(
        airlock,
        session,
        reviewer,
        notices,
        { ...common, path: '/?sort=time-left', queue: `${full}, least time left`, domTimeoutMs: 10_000 },
        log,
      ),
    );
    return {
      browser: `Chromium ${browser.version()}`,
      reviewer: reviewer.kind,
      seeded,
      firstPage: first,
      live,
      pageErrors: pageErrors.slice(0, 5),
    };
  } finally {
    unsubscribe();
    await session.close().catch(() => {});
    await browser.close().catch(() => {});
  }
}
