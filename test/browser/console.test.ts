import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { and, eq } from 'drizzle-orm';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalRequests, auditEvents } from '../../db/schema';
import { decide } from '../../server/approvals/decide';
import { parseCheckpoint, verifyAudit } from '../../server/audit/verify';
import { setUserDisabled } from '../../server/auth/users';
import { type CallResult, callText, eventually, type Person, root, startTestAirlock, type TestAirlock } from '../helpers/airlock';
import { browserAvailable, horizontalOverflow, launch, signIn } from '../helpers/browser';

const shots = join(root, 'test-results');

describe.runIf(browserAvailable())('reviewer console in Chromium', () => {
  let h: TestAirlock;
  let browser: Browser;
  let owner: Person;
  let alice: Person;
  let bob: Person;
  let auditor: Person;
  let admin: Person;
  let agent: Client;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    h = await startTestAirlock(
      'pglite',
      {
        rules: [
          { id: 'pay-two', tool: 'pay', action: 'require_approval', quorum: 2, reason: 'payments need two people' },
          {
            id: 'notes',
            tool: 'post_note',
            action: 'require_approval',
            allowEdit: true,
            maxGrantMinutes: 30,
            reason: 'notes leave the company',
          },
          { id: 'deletes', tool: 'delete_everything', action: 'require_approval', reason: 'destructive' },
        ],
      },
      { console: true },
    );
    owner = await h.person('approver');
    alice = await h.person('approver');
    bob = await h.person('approver');
    auditor = await h.person('auditor');
    admin = await h.person('admin');
    agent = await h.connect(await h.agent(owner.email, 'browser-agent'));
    browser = await launch();
  });
  afterAll(async () => {
    await Promise.allSettled(contexts.map((c) => c.close()));
    await browser?.close();
    await h?.close();
  });

  async function reviewer(person: Person, viewport = { width: 1200, height: 900 }): Promise<Page> {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (error) => console.error('page error:', error.message));
    await signIn(page, h.url, person.email);
    return page;
  }

  const pending = (tool: string) => h.pending({ tool });

  it('shows a held call live, without a reload, and approving it returns the result to the agent', async () => {
    const page = await reviewer(alice);
    await page.getByRole('heading', { name: 'Nothing is waiting for review' }).waitFor();
    // a marker on window survives only if the page is never reloaded
    await page.evaluate(() => Object.assign(window, { __noReload: true }));
    await page.getByText('Live', { exact: true }).waitFor();

    const call = agent.callTool({ name: 'delete_everything', arguments: { scope: 'staging' } });
    const row = page.locator('.queue-item', { hasText: 'delete_everything' });
    await row.waitFor({ timeout: 10_000 });
    expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
    await eventually(async () => (await page.title()).startsWith('(1)'));

    await row.getByRole('link').click();
    await page.getByRole('button', { name: 'Approve', exact: true }).click();
    expect(callText(await call)).toBe('deleted staging');
    await page.getByRole('heading', { name: 'Approved' }).waitFor();
  });

  it('re-reads the queue when the server says it may have missed events, without a reload', async () => {
    const page = await reviewer(alice);
    await page.getByRole('heading', { name: 'Nothing is waiting for review' }).waitFor();
    await page.evaluate(() => Object.assign(window, { __noReload: true }));
    await page.getByText('Live', { exact: true }).waitFor();
    const call = agent.callTool({ name: 'delete_everything', arguments: { scope: 'missed' } });
    const row = page.locator('.queue-item', { hasText: 'missed' });
    await row.waitFor({ timeout: 10_000 });
    // a change whose notification never reached this process (as while its database subscription was down)
    const request = await pending('delete_everything');
    await h.t.database.orm
      .update(approvalRequests)
      .set({ status: 'expired', decidedAt: new Date(), reason: 'missed' })
      .where(eq(approvalRequests.id, request.id));
    await new Promise((r) => setTimeout(r, 1000));
    expect(await row.count()).toBe(1);
    h.airlock.realtime.resync();
    await row.waitFor({ state: 'detached', timeout: 10_000 });
    await page.getByRole('heading', { name: 'Nothing is waiting for review' }).waitFor();
    expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
    expect((await call).isError).toBe(true);
  });

  it('denying with a reason sends the reason to the agent', async () => {
    const page = await reviewer(alice);
    const call = agent.callTool({ name: 'delete_everything', arguments: { scope: 'production' } });
    const request = await pending('delete_everything');
    await page.goto(`${h.url}/approvals/${request.id}`);
    await page.getByRole('button', { name: 'Deny…' }).click();
    await page.getByLabel('Looks like a prompt injection').check();
    await page.getByLabel('Details (optional)').fill('production is off limits');
    await page.getByRole('button', { name: 'Deny', exact: true }).click();
    const result = (await call) as CallResult;
    expect(result.isError).toBe(true);
    expect(callText(result)).toContain('Looks like a prompt injection: production is off limits');
  });

  it('two approvers on a 2-of-2 rule, and a decision in one browser updates the other', async () => {
    const first = await reviewer(alice);
    const second = await reviewer(bob);
    const call = agent.callTool({ name: 'pay', arguments: { to: 'acme', amount: 250 } });
    const request = await pending('pay');
    await first.goto(`${h.url}/approvals/${request.id}`);
    await second.goto(`${h.url}/approvals/${request.id}`);
    await first.getByText('0 of 2 approvals').waitFor();

    await first.getByRole('button', { name: 'Approve', exact: true }).click();
    await first.getByText('You have voted on this request').waitFor();
    // the other reviewer's page follows live: one approval recorded, still pending
    await second.getByText('1 of 2 approvals').waitFor();
    await second.getByRole('button', { name: 'Approve', exact: true }).click();
    expect(callText(await call)).toBe('paid 250 to acme');
    // the first page learns of the final decision without a reload, and its controls are gone
    await first.getByRole('heading', { name: 'Approved' }).waitFor();
    expect(await first.getByRole('button', { name: 'Approve', exact: true }).count()).toBe(0);
  });

  it('an auditor sees no decision controls, and the API refuses anyway', async () => {
    const page = await reviewer(auditor);
    const call = agent.callTool({ name: 'delete_everything', arguments: { scope: 'audit' } });
    const request = await pending('delete_everything');
    await page.goto(`${h.url}/approvals/${request.id}`);
    await page.getByText('you can see this request but not decide it').waitFor();
    expect(await page.getByRole('button', { name: /Approve|Deny/ }).count()).toBe(0);
    const status = await page.evaluate(async (id) => {
      const response = await fetch(`/api/approvals/${id}/decision`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ decision: 'approve' }),
      });
      return response.status;
    }, request.id);
    expect(status).toBe(403);
    const adminPage = await reviewer(admin);
    await adminPage.goto(`${h.url}/approvals/${request.id}`);
    await adminPage.getByRole('button', { name: 'Deny…' }).click();
    await adminPage.getByRole('button', { name: 'Deny', exact: true }).click();
    expect(((await call) as CallResult).isError).toBe(true);
  });

  it('a sign-out in one tab ends the live feed of the others', async () => {
    const first = await reviewer(alice);
    await first.locator('.live-live').waitFor();
    const second = await first.context().newPage();
    await second.goto(`${h.url}/history`);
    await second.getByRole('button', { name: 'Sign out' }).click();
    await second.waitForURL(/\/signin/);
    // the first tab follows: its socket, opened with the cookie now gone, closes, and it goes to sign-in
    await first.waitForURL(/\/signin/);
  });

  it('the queue re-reads when the reviewer comes back to it within the console (Back)', async () => {
    const page = await reviewer(alice);
    const calls = ['back-1', 'back-2'].map((scope) => agent.callTool({ name: 'delete_everything', arguments: { scope } }));
    const rows = page.locator('.queue-item');
    await eventually(async () => (await rows.count()) === 2);
    const ids = await rows.evaluateAll((items) => items.map((item) => item.getAttribute('data-request-id')));
    // into a request, without leaving the page: the socket stays connected
    await page.locator(`.queue-item[data-request-id="${ids[0]}"] a.queue-link`).click();
    await page.waitForURL(/\/approvals\//);
    // meanwhile the other request is decided elsewhere
    await decide(h.t.database, { requestId: ids[1] ?? '', user: { id: bob.id }, decision: 'deny' });
    await page.goBack();
    await page.waitForURL((url) => url.pathname === '/');
    await eventually(async () => (await rows.count()) === 1);
    expect(await rows.first().getAttribute('data-request-id')).toBe(ids[0]);
    await decide(h.t.database, { requestId: ids[0] ?? '', user: { id: bob.id }, decision: 'deny' });
    for (const call of calls) expect(((await call) as CallResult).isError).toBe(true);
  });

  it('marks direction controls in the queue’s preview of the arguments', async () => {
    const page = await reviewer(alice);
    const call = agent.callTool({ name: 'delete_everything', arguments: { scope: '\u202E1003-CCA\u202C' } });
    const request = await pending('delete_everything');
    const preview = page.locator(`.queue-item[data-request-id="${request.id}"] .queue-args`);
    await preview.waitFor();
    // the reversed text cannot pass for "ACC-3001": each control shows as a marked chip
    expect(await preview.locator('mark.invisible-char').count()).toBe(2);
    expect(await preview.textContent()).not.toContain('\u202E');
    await decide(h.t.database, { requestId: request.id, user: { id: alice.id }, decision: 'deny' });
    expect(((await call) as CallResult).isError).toBe(true);
  });

  it('a approves the request the reviewer chose, even when the list moves under it', async () => {
    const page = await reviewer(alice);
    const calls = ['s1', 's2', 's3'].map((scope) => agent.callTool({ name: 'delete_everything', arguments: { scope } }));
    await eventually(async () => (await page.locator('.queue-item').count()) === 3);
    const rows = page.locator('.queue-item');
    const ids = await rows.evaluateAll((items) => items.map((item) => item.getAttribute('data-request-id')));
    await page.keyboard.press('j');
    await page.keyboard.press('j');
    expect(await page.locator('.queue-item[data-selected]').getAttribute('data-request-id')).toBe(ids[1]);
    // another reviewer approves the first: the chosen request is now the first row
    const other = await reviewer(bob);
    const status = await other.evaluate(async (id) => {
      const response = await fetch(`/api/approvals/${id}/decision`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ decision: 'approve' }),
      });
      return response.status;
    }, ids[0]);
    expect(status).toBe(200);
    await eventually(async () => (await rows.count()) === 2);
    await page.keyboard.press('a');
    expect(callText(await calls[1])).toBe('deleted s2');
    await eventually(async () => (await rows.count()) === 1);
    expect(await rows.first().getAttribute('data-request-id')).toBe(ids[2]);
    expect(await page.getByRole('status').filter({ hasText: 'Approved' }).textContent()).toContain('s2');
    // the third was never chosen: a second press approves nothing
    await page.keyboard.press('a');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await rows.count()).toBe(1);
    const [third] = await h.t.database.orm
      .select()
      .from(approvalRequests)
      .where(eq(approvalRequests.id, ids[2] ?? ''));
    expect(third.status).toBe('pending');
    await decide(h.t.database, { requestId: third.id, user: { id: alice.id }, decision: 'deny' });
    expect(callText(await calls[0])).toBe('deleted s1');
    expect(((await calls[2]) as CallResult).isError).toBe(true);
  });

  it('triages with the keyboard alone: j/k to move, a to approve, d to deny with a reason', async () => {
    const page = await reviewer(alice);
    const calls = [
      agent.callTool({ name: 'delete_everything', arguments: { scope: 'k1' } }),
      agent.callTool({ name: 'delete_everything', arguments: { scope: 'k2' } }),
    ];
    await eventually(async () => (await page.locator('.queue-item').count()) === 2).catch(async (e) => {
      await page.screenshot({ path: join(shots, 'keyboard-fail.png'), fullPage: true });
      throw e;
    });
    await page.keyboard.press('j');
    await page.keyboard.press('k');
    await page.keyboard.press('a');
    const first = await calls[0];
    expect(callText(first)).toBe('deleted k1');
    await eventually(async () => (await page.locator('.queue-item').count()) === 1);
    // the approved row left: nothing is selected until the reviewer chooses again
    expect(await page.locator('.queue-item[data-selected]').count()).toBe(0);
    await page.keyboard.press('j');
    await page.keyboard.press('d');
    await page.waitForURL(/action=deny/);
    // the reason field takes the focus by itself
    await eventually(() => page.evaluate(() => document.activeElement?.id === 'deny-reason'));
    await page.keyboard.type('not today');
    // focus moves from the reason to the Deny button by keyboard
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    const second = (await calls[1]) as CallResult;
    expect(second.isError).toBe(true);
    expect(callText(second)).toContain('not today');
    await page.keyboard.press('?');
    await page.getByRole('heading', { name: 'Keyboard shortcuts' }).waitFor();
    await page.keyboard.press('Escape');
  });

  it('renders hostile tool descriptions and arguments as text and runs nothing', async () => {
    const page = await reviewer(alice);
    const hostile = '<img src=x onerror="window.__pwned=3"><script>window.__pwned=4</script>';
    const call = agent.callTool({ name: 'post_note', arguments: { text: hostile, channel: '<b>general</b>' } });
    const request = await pending('post_note');
    await page.goto(`${h.url}/approvals/${request.id}`);
    await page.getByText('window.__pwned=4', { exact: false }).first().waitFor();
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('img[src="x"], script:has-text("__pwned")').count()).toBe(0);
    // the description's bidi override is made visible
    expect(await page.locator('mark.invisible-char').count()).toBeGreaterThan(0);
    const csp = (await page.request.get(`${h.url}/approvals/${request.id}`)).headers()['content-security-policy'];
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toMatch(/script-src 'self' 'nonce-/);
    await page.getByRole('button', { name: 'Deny…' }).click();
    await page.getByRole('button', { name: 'Deny', exact: true }).click();
    await call;
  });

  it('edits the arguments, then approves: the agent is told, the audit keeps both digests', async () => {
    const page = await reviewer(alice);
    const call = agent.callTool({ name: 'post_note', arguments: { text: 'ship it to everyone', channel: 'all-company' } });
    const request = await pending('post_note');
    await page.goto(`${h.url}/approvals/${request.id}?action=edit`);
    const editor = page.getByLabel('Arguments to approve instead (JSON)');
    await editor.waitFor();
    await eventually(async () => (await editor.inputValue()).includes('all-company'));
    await editor.fill(JSON.stringify({ text: 'ship it', channel: 42 }));
    await page.getByRole('button', { name: 'Check' }).click();
    await page.getByRole('alert', { name: 'Schema violations' }).waitFor();
    await editor.fill(JSON.stringify({ text: 'ship it to the team', channel: 'team' }));
    await page.getByRole('button', { name: 'Approve edited call' }).click();
    const result = await call;
    expect(callText(result)).toContain('posted 19 characters');
    expect(callText(result)).toContain('edited the arguments');
    const [decided] = await h.t.database.orm
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.type, 'approval.decided'), eq(auditEvents.requestId, request.id)));
    expect(decided.payload).toMatchObject({ edited: true, originalArgumentsDigest: request.argumentsDigest });
    expect((decided.payload as { argumentsDigest: string }).argumentsDigest).not.toBe(request.argumentsDigest);
  });

  it('approve and allow for this session: the next matching call passes, until the grant is revoked', async () => {
    const page = await reviewer(alice);
    const first = agent.callTool({ name: 'post_note', arguments: { text: 'one' } });
    const request = await pending('post_note');
    await page.goto(`${h.url}/approvals/${request.id}`);
    await page.getByLabel(/Also allow/).check();
    await page.getByRole('button', { name: 'Approve and allow' }).click();
    expect(callText(await first)).toContain('posted 3 characters');
    // granted: no new hold
    expect(callText(await agent.callTool({ name: 'post_note', arguments: { text: 'two' } }))).toContain('posted 3 characters');
    await page.goto(`${h.url}/`);
    const grants = page.getByRole('region', { name: 'Active session grants' });
    await grants.getByText('post_note').waitFor();
    await grants.getByRole('button', { name: 'Revoke' }).click();
    await eventually(async () => (await grants.count()) === 0);
    const third = agent.callTool({ name: 'post_note', arguments: { text: 'three' } });
    const held = await pending('post_note');
    expect(held.id).not.toBe(request.id);
    await page.getByRole('link', { name: /post_note/ }).click();
    await page.getByRole('button', { name: 'Deny…' }).click();
    await page.getByRole('button', { name: 'Deny', exact: true }).click();
    expect(((await third) as CallResult).isError).toBe(true);
  });

  it('an admin revokes a personal API token on the Users page, and its script is refused at once', async () => {
    const script = await h.person('auditor');
    const verify = () => fetch(`${h.url}/api/audit/verify`, { headers: { authorization: `Bearer ${script.token}` } });
    expect((await verify()).status).toBe(200);
    const page = await reviewer(admin);
    await page.goto(`${h.url}/admin/users`);
    const tokens = page.getByRole('table', { name: 'Personal API tokens' });
    const row = tokens.getByRole('row').filter({ hasText: script.email });
    await expect.poll(() => row.count()).toBe(1);
    expect(await page.content()).not.toContain(script.token);
    await row.getByRole('button', { name: `Revoke test of ${script.email}` }).click();
    await row.getByRole('button', { name: `Yes, revoke test of ${script.email}` }).click();
    await row.getByText('revoked').waitFor();
    expect((await verify()).status).toBe(401);
  });

  it('an admin creates a personal API token on the Users page, shown once, and a script can use it at once', async () => {
    const page = await reviewer(admin);
    await page.goto(`${h.url}/admin/users`);
    const form = page.getByRole('form', { name: 'Create an API token' });
    await form.getByLabel('Acts as').selectOption(auditor.email);
    await form.getByLabel('Token name').fill('audit-export');
    await form.getByRole('button', { name: 'Create token' }).click();
    const secret = (await page.locator('.admin-secret-value').textContent()) ?? '';
    expect(secret).toMatch(/^alk_user_/);
    const status = (await fetch(`${h.url}/api/audit/verify`, { headers: { authorization: `Bearer ${secret}` } })).status;
    expect(status).toBe(200);
    // listed without its secret; hidden for good once dismissed
    const tokens = page.getByRole('table', { name: 'Personal API tokens' });
    await tokens.getByRole('row').filter({ hasText: 'audit-export' }).waitFor();
    await page.getByRole('button', { name: 'Done, hide the token' }).click();
    expect(await page.content()).not.toContain(secret);
  });

  it('an auditor verifies the chain on the Audit page and copies its head as a checkpoint that verify accepts', async () => {
    const page = await reviewer(auditor);
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(h.url).origin });
    await page.goto(`${h.url}/audit`);
    await page.getByRole('link', { name: 'Verify the hash chain' }).click();
    await page.getByRole('status').filter({ hasText: 'Chain intact' }).waitFor();
    await page.getByRole('button', { name: 'Copy the head as a checkpoint for audit verify --checkpoint' }).click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    const checkpoint = parseCheckpoint(copied);
    expect(checkpoint).not.toBeNull();
    expect(await verifyAudit(h.t.database.orm, { checkpoint: checkpoint ?? undefined })).toMatchObject({ ok: true });
    // the same head with another hash is a rewritten log
    const forged = { seq: checkpoint?.seq ?? 1, hash: '0'.repeat(64) };
    expect(await verifyAudit(h.t.database.orm, { checkpoint: forged })).toMatchObject({ ok: false });
  });

  it('works at 390×844: no horizontal scroll on any page, 44 px targets, decision reachable', async () => {
    const page = await reviewer(admin, { width: 390, height: 844 });
    const call = agent.callTool({ name: 'post_note', arguments: { text: `a long note ${'x'.repeat(3000)}`, channel: 'general' } });
    const request = await pending('post_note');
    for (const path of [
      '/',
      `/approvals/${request.id}`,
      '/history',
      '/audit',
      '/admin/users',
      '/admin/agents',
      '/admin/upstreams',
      '/signin',
    ]) {
      await page.goto(`${h.url}${path}`);
      await page.waitForLoadState('networkidle');
      expect({ path, overflow: await horizontalOverflow(page) }).toEqual({ path, overflow: 0 });
    }
    await page.goto(`${h.url}/approvals/${request.id}`);
    await page.screenshot({ path: join(shots, 'request-390x844.png') });
    const approve = page.getByRole('button', { name: 'Approve', exact: true });
    const box = await approve.boundingBox();
    expect(box?.height).toBeGreaterThanOrEqual(44);
    // in the lower half of the screen, under the thumb, without scrolling
    expect((box?.y ?? 0) + (box?.height ?? 0)).toBeLessThanOrEqual(844);
    expect(box?.y ?? 0).toBeGreaterThan(844 / 2);
    await approve.click();
    await call;
  });

  it('a 1 MB argument renders folded and the page stays usable', async () => {
    const page = await reviewer(alice);
    const call = agent.callTool({ name: 'post_note', arguments: { text: 'y'.repeat(1_000_000) } });
    const request = await pending('post_note');
    await page.goto(`${h.url}/approvals/${request.id}`);
    await page
      .getByRole('button', { name: /Show all/ })
      .first()
      .waitFor();
    // rendered text, not textContent: the page's scripts carry the payload whatever the DOM shows
    // biome-ignore lint/performance/useDomNodeTextContent: innerText is what is rendered
    const textLength = await page.evaluate(() => document.body.innerText.length);
    expect(textLength).toBeLessThan(100_000);
    await page.getByRole('button', { name: 'Deny…' }).click();
    await page.getByRole('button', { name: 'Deny', exact: true }).click();
    await call;
  });

  it('a disabled reviewer is signed out: pages send them to sign in, the socket is dropped', async () => {
    const carol = await h.person('approver');
    const page = await reviewer(carol);
    await page.getByText('Live', { exact: true }).waitFor();
    await setUserDisabled(h.t.database, { email: carol.email, disabled: true });
    // the socket is dropped within seconds and its reconnection refused: the console sends them to sign in
    await page.waitForURL(/\/signin\?expired=1/, { timeout: 15_000 });
    await page.goto(`${h.url}/history`);
    await page.waitForURL(/\/signin/);
  });

  // 16 pages through axe: over a minute on a slow day of this machine, so it gets three
  it('passes axe’s WCAG 2 A/AA checks (contrast included) on every page, light and dark', { timeout: 180_000 }, async () => {
    const call = agent.callTool({ name: 'post_note', arguments: { text: 'accessibility check', channel: 'general' } }, undefined, {
      timeout: 180_000,
    });
    const request = await pending('post_note');
    const violations: string[] = [];
    for (const colorScheme of ['light', 'dark'] as const) {
      const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, colorScheme });
      contexts.push(context);
      const page = await context.newPage();
      await signIn(page, h.url, admin.email);
      for (const path of ['/', `/approvals/${request.id}`, '/history', '/audit', '/admin/users', '/admin/agents', '/admin/upstreams']) {
        await page.goto(`${h.url}${path}`);
        await page.waitForLoadState('networkidle');
        const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
        for (const v of result.violations)
          violations.push(
            `${colorScheme} ${path}: ${v.id} (${v.impact}) ${v.nodes
              .map((n) => n.target.join(' '))
              .slice(0, 3)
              .join(', ')}`,
          );
      }
      await page.goto(`${h.url}/signin`);
      await context.clearCookies();
      await page.goto(`${h.url}/signin`);
      const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
      for (const v of result.violations)
        violations.push(`${colorScheme} /signin: ${v.id} ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    }
    expect(violations).toEqual([]);
    const page = await reviewer(alice);
    await page.goto(`${h.url}/approvals/${request.id}`);
    await page.getByRole('button', { name: 'Deny…' }).click();
    await page.getByRole('button', { name: 'Deny', exact: true }).click();
    await call;
  });

  it('is installable: manifest, icons and a service worker', async () => {
    const page = await reviewer(alice);
    const manifest = await (await page.request.get(`${h.url}/manifest.webmanifest`)).json();
    expect(manifest).toMatchObject({ display: 'standalone', start_url: '/' });
    for (const icon of manifest.icons) expect((await page.request.get(`${h.url}${icon.src}`)).status()).toBe(200);
    const registered = await eventually(() => page.evaluate(async () => Boolean(await navigator.serviceWorker.getRegistration('/'))));
    expect(registered).toBe(true);
  });
});
