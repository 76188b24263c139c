import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { createApp } from '../api/app.js';
import { WEB_DIST } from '../api/routes/ui.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { freePort, spawnService, waitForHttp, type ServiceProcess } from './helpers/processes.js';
import { scriptedRequest } from './helpers/scripted.js';
import { eventRows, eventually } from './helpers/seed.js';

/**
 * The web UI end to end: the real service (API and workers in one process,
 * and for the reconnect case a second, API-only process) driven through
 * Debian's chromium by playwright-core.
 */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

let ctx: TestContext;
let service: ServiceProcess;
let base: string;
let env: Record<string, string>;
let browser: BrowserContext;
let profile: string;
const extraProcs: ServiceProcess[] = [];
/** expect.poll's deadline for what the page shows after a click. */
const POLL = { timeout: 15_000, interval: 50 };

/** A diamond with a tail: a → (b, c) → d → e. Five tasks on four levels. */
const DIAMOND = [
  { id: 'a', agent: 'researcher', sim: { latency_ms: 300 } },
  { id: 'b', agent: 'analyst', deps: ['a'], sim: { latency_ms: 400 } },
  { id: 'c', agent: 'researcher', deps: ['a'], sim: { latency_ms: 250 } },
  { id: 'd', agent: 'analyst', deps: ['b', 'c'], sim: { latency_ms: 300 } },
  { id: 'e', agent: 'reviewer', deps: ['d'], sim: { latency_ms: 200 } },
];

beforeAll(async () => {
  if (!existsSync(join(WEB_DIST, 'index.html'))) {
    execFileSync(process.execPath, ['--import', 'tsx', 'web/build.ts'], { stdio: 'inherit', timeout: 180_000 });
  }
  ctx = await createTestContext('ui-e2e', { SIMULATED_LATENCY_MS: '150' });
  const port = await freePort();
  env = { ...ctx.env, DEV_SIGN_IN: 'true', SIMULATED_LATENCY_MS: '150', METRICS_PORT: '0', TASK_BACKOFF_MS: '50' };
  service = spawnService({ ...env, PORT: String(port) });
  base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/health/live`, service);
  profile = mkdtempSync(join(tmpdir(), 'codelab-ui-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  mkdirSync(ARTIFACTS, { recursive: true });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  for (const p of extraProcs) await p.stop();
  await service?.stop();
  await ctx?.cleanup();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** Opens the UI and signs in with the one-click dev sign-in. */
async function signedInPage(origin: string): Promise<Page> {
  const page = await browser.newPage();
  // What the page showed when a test failed, next to the other artifacts.
  onTestFailed(async ({ task }) => {
    if (!page.isClosed()) await page.screenshot({ path: join(ARTIFACTS, `failed-${task.name.slice(0, 40).replace(/\W+/g, '-')}.png`), fullPage: true });
  });
  page.setDefaultTimeout(30_000);
  await page.goto(origin);
  // A fresh sign-in even when an earlier page of this origin left a token.
  await page.evaluate(() => localStorage.removeItem('codelab.token'));
  await page.reload();
  await page.getByTestId('dev-sign-in').click();
  await page.getByRole('heading', { name: 'Projects' }).waitFor();
  return page;
}

/** The token the page signed in with (to check the outcome through the API). */
const tokenOf = (page: Page) => page.evaluate(() => localStorage.getItem('codelab.token')!);

/** Seqs listed in the plan card's event log, in the order they arrived (duplicates kept). */
async function loggedSeqs(page: Page): Promise<number[]> {
  return page.$$eval('.event-log li[data-seq]', (lis) => lis.map((li) => li.getAttribute('data-seq')).filter((s) => s).map(Number));
}

describe('serving the UI', () => {
  it('serves index.html revalidated, hashed assets immutable, with a CSP and no external origin', async () => {
    const index = await fetch(`${base}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await index.text();
    expect(html).not.toMatch(/https?:\/\//);
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const path of assets) {
      const res = await fetch(`${base}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect((await res.text()).length).toBeGreaterThan(0);
    }
    const again = await fetch(`${base}/`, { headers: { 'if-none-match': index.headers.get('etag')! } });
    expect(again.status).toBe(304);
    expect((await fetch(`${base}/assets/nope-123.js`)).status).toBe(404);
    expect((await fetch(`${base}/assets/..%2Fpackage.json`)).status).toBe(404);
  });

  it('gives a working dev token when DEV_SIGN_IN=true', async () => {
    const res = await fetch(`${base}/ui/dev-token`, { method: 'POST' });
    expect(res.status).toBe(200);
    const { token, subject } = (await res.json()) as { token: string; subject: string };
    expect(subject).toBe('dev');
    const projects = await fetch(`${base}/v1/projects`, { headers: { authorization: `Bearer ${token}` } });
    expect(projects.status).toBe(200);
  });

  it('has no dev sign-in when DEV_SIGN_IN is off (404, and the config says so)', async () => {
    expect(ctx.config.DEV_SIGN_IN).toBe(false);
    const app = createApp(ctx.deps);
    try {
      const res = await app.request('/ui/dev-token', { method: 'POST' });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
      expect(await (await app.request('/ui/config')).json()).toMatchObject({ dev_sign_in: false });
    } finally {
      await app.close();
    }
  });
});

describe('the web UI in a browser', () => {
  let projectId: string;

  it('creates a project, shows the API validation next to agent fields, and edits and disables an agent', async () => {
    const page = await signedInPage(base);
    await page.getByPlaceholder('New project name').fill('UI demo');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('heading', { name: 'UI demo' }).waitFor();
    projectId = /#\/p\/([0-9a-f-]{36})/.exec(page.url())![1]!;

    // Approval threshold 0: every plan waits for approval.
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.locator('input[name=approval_threshold_usd]').fill('0');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('saved').waitFor();

    await page.getByRole('link', { name: 'Agents' }).click();
    await page.locator('tr[data-agent=researcher]').waitFor();
    await page.getByRole('button', { name: 'New agent' }).click();
    const form = page.getByTestId('agent-form');
    await form.locator('input[name=name]').fill('Bad Name');
    await form.locator('input[name=role]').fill('Summariser');
    await form.locator('textarea[name=system_prompt]').fill('Summarise.');
    await form.locator('input[name=provider]').fill('simulated');
    await form.locator('input[name=model]').fill('gpt-4o-mini');
    await form.locator('input[name=temperature]').fill('7');
    await form.getByRole('button', { name: 'Create agent' }).click();
    // The API's 400 details, each next to its field.
    await expect.poll(() => form.locator('[data-field-error="name"]').textContent(), POLL).toContain('must start with a-z');
    expect(await form.locator('[data-field-error="config.temperature"]').textContent()).toMatch(/2/);

    await form.locator('input[name=name]').fill('summariser');
    await form.locator('input[name=temperature]').fill('0.2');
    await form.locator('input[name=model]').fill('no-such-model');
    await form.getByRole('button', { name: 'Create agent' }).click();
    await expect.poll(() => form.locator('[data-field-error="config.model"]').textContent(), POLL).toContain('unknown model');

    await form.locator('input[name=model]').fill('gpt-4o-mini');
    await form.getByRole('button', { name: 'Create agent' }).click();
    const row = page.locator('tr[data-agent=summariser]');
    await row.waitFor();
    await row.getByRole('button', { name: 'Edit' }).click();
    await page.getByTestId('agent-form').locator('input[name=role]').fill('Short summaries');
    await page.getByTestId('agent-form').getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => row.locator('td').nth(1).textContent(), POLL).toBe('Short summaries');
    await row.getByRole('button', { name: 'Disable' }).click();
    await expect.poll(() => row.getByTestId('agent-status').textContent(), POLL).toBe('disabled');

    const token = await tokenOf(page);
    const agents = (await (await fetch(`${base}/v1/projects/${projectId}/agents`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      items: Array<{ name: string; status: string; config: { role: string } }>;
    };
    expect(agents.items.find((a) => a.name === 'summariser')).toMatchObject({ status: 'disabled', config: { role: 'Short summaries' } });
    await page.close();
  });

  it('plans a diamond as a graph, waits for approval, runs it live to the answer', async () => {
    expect(projectId).toBeDefined();
    const page = await signedInPage(base);
    await page.goto(`${base}/#/p/${projectId}`);
    await page.locator('textarea[name=message]').fill(scriptedRequest(DIAMOND, 'Compare two caching strategies'));
    await page.getByRole('button', { name: 'Send' }).click();

    const card = page.locator('.plan-card').last();
    await card.locator('[data-testid=approval]').waitFor();
    expect(await card.getAttribute('data-plan-status')).toBe('pending_approval');
    expect(await card.locator('g.node').count()).toBe(5);
    const levels = await card.locator('g.node').evaluateAll((gs) =>
      Object.fromEntries(gs.map((g) => [g.getAttribute('data-task-id'), Number(g.getAttribute('data-level'))])),
    );
    expect(levels).toEqual({ a: 0, b: 1, c: 1, d: 2, e: 3 });
    expect(await card.locator('path.edge').count()).toBe(5);
    // The critical path the planner computed is the one outlined: a, one branch of the diamond, d, e.
    const planId = (await card.getAttribute('data-plan-id'))!;
    const token = await tokenOf(page);
    const planned = (await (await fetch(`${base}/v1/projects/${projectId}/plans/${planId}`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      critical_path: string[];
    };
    expect(planned.critical_path).toHaveLength(4);
    expect(await card.locator('g.node.critical').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-task-id')).sort())).toEqual(
      [...planned.critical_path].sort(),
    );
    expect(await card.locator('path.edge.critical').count()).toBe(3);
    expect(await card.getByTestId('provider').textContent()).toBe('simulated');
    expect(await card.getByTestId('countdown').textContent()).toMatch(/expires in \d+:\d\d/);
    expect(await card.getByTestId('estimated-cost').textContent()).toMatch(/^\$\d/);

    await card.getByRole('button', { name: 'Approve' }).click();
    await page.waitForFunction(
      () => {
        const nodes = [...document.querySelectorAll('.plan-card g.node')];
        return nodes.length === 5 && nodes.every((n) => n.getAttribute('data-status') === 'completed');
      },
      undefined,
      { timeout: 60_000 },
    );
    await card.getByTestId('final-answer').waitFor();
    await expect.poll(() => card.getAttribute('data-plan-status'), POLL).toBe('completed');
    const answer = (await card.getByTestId('final-answer').textContent()) ?? '';
    expect(answer.length).toBeGreaterThan(20);
    expect(await card.getByTestId('actual-cost').textContent()).toMatch(/^\$0\.\d*[1-9]/);

    const plan = (await (await fetch(`${base}/v1/projects/${projectId}/plans/${planId}`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      status: string; summary: string;
    };
    expect(plan.status).toBe('completed');
    expect(answer).toContain(plan.summary.slice(0, 40));
    // Every stored event reached the page exactly once, in order.
    const stored = (await eventRows(ctx.deps.db, planId)).map((e) => Number(e.seq));
    expect(await loggedSeqs(page)).toEqual(stored);

    await card.locator('g.node[data-task-id=d]').click();
    await card.getByTestId('task-detail').waitFor();
    await card.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, 'ui-plan-completed.png'), fullPage: true });
    await page.close();
  });

  it('resumes the event stream after the API restarts mid-plan, from the last event id, losing and repeating nothing', async () => {
    expect(projectId).toBeDefined();
    // A second, API-only process on its own port: the first process's workers keep running the plan while it is down.
    const port = await freePort();
    const apiEnv = { ...env, PORT: String(port) };
    let api = spawnService(apiEnv, ['--api']);
    extraProcs.push(api);
    const origin = `http://127.0.0.1:${port}`;
    await waitForHttp(`${origin}/health/live`, api);

    const page = await signedInPage(origin);
    await page.goto(`${origin}/#/p/${projectId}`);
    const chain = [
      { id: 'first', sim: { latency_ms: 1500 } },
      { id: 'second', deps: ['first'], sim: { latency_ms: 1500 } },
      { id: 'third', deps: ['second'], sim: { latency_ms: 200 } },
    ];
    await page.locator('textarea[name=message]').fill(scriptedRequest(chain, 'A chain to survive a restart'));
    await page.getByRole('button', { name: 'Send' }).click();
    const card = page.locator('.plan-card').last();
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.locator('g.node[data-task-id=first][data-status=running]').waitFor();
    const planId = (await card.getAttribute('data-plan-id'))!;

    expect(await api.stop()).toBe(0);
    // While no API runs, the plan moves on: these events can only reach the page by replay.
    await eventually(async () => (await eventRows(ctx.deps.db, planId)).some((e) => e.type === 'task.completed'), 30_000, 'a task completed while the API was down');
    api = spawnService(apiEnv, ['--api']);
    extraProcs.push(api);
    await waitForHttp(`${origin}/health/live`, api);

    await page.waitForFunction(
      () => [...document.querySelectorAll('.plan-card g.node')].filter((n) => n.getAttribute('data-status') === 'completed').length === 3,
      undefined,
      { timeout: 60_000 },
    );
    await card.getByTestId('final-answer').waitFor();
    const stored = (await eventRows(ctx.deps.db, planId)).map((e) => Number(e.seq));
    expect(stored.at(-1)).toBe(stored.length);
    expect(await loggedSeqs(page)).toEqual(stored);
    await page.close();
  });
});
