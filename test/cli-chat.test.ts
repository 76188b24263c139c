import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { signToken } from './helpers/http.js';
import { freePort, spawnService, waitForHttp, type ServiceProcess } from './helpers/processes.js';
import { scriptedRequest } from './helpers/scripted.js';
import { eventRows } from './helpers/seed.js';

/** The terminal client (`npm run cli`) against the real service, as a user or a script runs it. */
let ctx: TestContext;
let service: ServiceProcess;
let base: string;
let token: string;
let autoProject: string;
let approvalProject: string;

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bin/cli.ts like `npm run cli -- …`, with stdin fed `input` (then closed); killed after a deadline. */
function cli(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/cli.ts', ...args], {
      cwd: process.cwd(),
      env: { ...process.env, CODELAB_URL: base, CODELAB_TOKEN: token, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cli ${args.join(' ')} did not exit\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const DIAMOND = scriptedRequest(
  [
    { id: 'a' },
    { id: 'b', agent: 'analyst', deps: ['a'] },
    { id: 'c', deps: ['a'] },
    { id: 'd', agent: 'reviewer', deps: ['b', 'c'] },
  ],
  'A diamond from the terminal',
);

beforeAll(async () => {
  ctx = await createTestContext('cli-chat');
  const port = await freePort();
  service = spawnService({ ...ctx.env, PORT: String(port), SIMULATED_LATENCY_MS: '50', METRICS_PORT: '0' });
  base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/health/live`, service);
  token = await signToken({ sub: 'cli-user' });
  autoProject = (await api('POST', '/v1/projects', { name: 'cli auto', settings: { approval_threshold_usd: 1000 } })).id;
  approvalProject = (await api('POST', '/v1/projects', { name: 'cli approval', settings: { approval_threshold_usd: 0 } })).id;
}, 120_000);

afterAll(async () => {
  await service?.stop();
  await ctx?.cleanup();
});

describe('cli chat', () => {
  it('streams a scripted plan to completion with a progress bar, prints the answer and exits 0', async () => {
    const run = await cli(['chat', '--project', autoProject, DIAMOND]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const planId = /^plan ([0-9a-f-]{36})/m.exec(run.stdout)![1]!;
    const plan = await api('GET', `/v1/projects/${autoProject}/plans/${planId}`);
    expect(plan.status).toBe('completed');
    // One line per task event, each with the bar; the last completion shows every task settled.
    const taskEvents = (await eventRows(ctx.deps.db, planId)).filter((e) => e.type.startsWith('task.'));
    const taskLines = run.stdout.split('\n').filter((l) => /^\[[#-]{20}\] \d+\/4 {2}\w+ /.test(l));
    expect(taskLines).toHaveLength(taskEvents.length);
    expect(taskLines.filter((l) => / completed \$/.test(l))).toHaveLength(4);
    expect(taskLines.at(-1)).toMatch(/^\[#{20}\] 4\/4 {2}d completed/);
    expect(run.stdout).toContain('critical path: a → ');
    expect(run.stdout).toContain(plan.summary);
    expect(run.stdout).toMatch(/plan completed: actual \$\d/);
  });

  it('with --json prints every event as one JSON line, then the final plan', async () => {
    const run = await cli(['chat', '--project', autoProject, '--json', DIAMOND]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    const final = lines.at(-1)!;
    expect(final).toMatchObject({ status: 'completed', tasks: expect.any(Array) });
    const stored = (await eventRows(ctx.deps.db, final.id)).map((e) => Number(e.seq));
    const seqs = lines.slice(0, -1).filter((l) => l.seq !== undefined).map((l) => l.seq);
    expect(seqs).toEqual(stored);
    expect(lines[0]).toMatchObject({ type: 'plan.planning', plan_id: final.id });
  });

  it('rejects a plan that needs approval with --no, says so and exits 1', async () => {
    const run = await cli(['chat', '--project', approvalProject, '--no', DIAMOND]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('approval needed');
    expect(run.stderr).toContain('plan rejected: rejected with --no');
    const planId = /^plan ([0-9a-f-]{36})/m.exec(run.stdout)![1]!;
    const plan = await api('GET', `/v1/projects/${approvalProject}/plans/${planId}`);
    expect(plan).toMatchObject({ status: 'rejected', decision_reason: 'rejected with --no' });
    // Nothing ran.
    expect(plan.tasks.filter((t: { started_at: string | null }) => t.started_at !== null)).toEqual([]);
  });

  it('asks on stdin when approval is needed: "y" runs the plan to completion', async () => {
    const run = await cli(['chat', '--project', approvalProject, DIAMOND], { input: 'y\n' });
    expect(run.stderr).toContain('Approve this plan? [y/N]');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('approved');
    expect(run.stdout).toMatch(/plan completed/);
  });

  it('rejects when stdin ends without an answer', async () => {
    const run = await cli(['chat', '--project', approvalProject, DIAMOND], { input: '' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no answer on stdin');
    expect(run.stderr).toContain('plan rejected');
  });
});

describe('cli commands and errors', () => {
  it('lists projects, agents and plans, and approves with the approve command', async () => {
    const projects = await cli(['projects', '--json']);
    expect(projects.code).toBe(0);
    const ids = projects.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
    expect(ids).toEqual(expect.arrayContaining([autoProject, approvalProject]));

    const agents = await cli(['agents', '--project', autoProject]);
    expect(agents.code).toBe(0);
    expect(agents.stdout).toMatch(/^researcher\s+active\s+simulated\//m);

    const accepted = await api('POST', `/v1/projects/${approvalProject}/chat`, { message: DIAMOND });
    const pending = await (async () => {
      for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
        const p = await api('GET', `/v1/projects/${approvalProject}/plans/${accepted.plan_id}`);
        if (p.status !== 'planning' && p.status !== 'created') return p;
      }
      throw new Error('plan never left planning');
    })();
    expect(pending.status).toBe('pending_approval');
    const listed = await cli(['plans', '--project', approvalProject, '--status', 'pending_approval']);
    expect(listed.stdout).toContain(accepted.plan_id);

    const approved = await cli(['approve', '--project', approvalProject, accepted.plan_id]);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain('is now executing');
    const watched = await cli(['watch', '--project', approvalProject, accepted.plan_id]);
    expect(watched.code).toBe(0);
    expect(watched.stdout).toMatch(/plan completed/);

    const again = await cli(['approve', '--project', approvalProject, accepted.plan_id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^409 conflict: cannot approve a plan that is (executing|completed)/);
  });

  it('exits 2 on usage errors and 1 when the API refuses', async () => {
    const noProject = await cli(['chat', 'hello']);
    expect(noProject.code).toBe(2);
    expect(noProject.stderr).toContain('--project is required');
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect((await cli(['chat', '--project', autoProject, '--yes', '--no', 'x'])).code).toBe(2);
    expect((await cli(['projects'], { env: { CODELAB_TOKEN: '' } })).code).toBe(2);
    const help = await cli(['chat', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: npm run cli -- chat');

    const badToken = await cli(['projects', '--token', 'not-a-jwt']);
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toMatch(/^401 unauthorized/);
    const missing = await cli(['agents', '--project', '00000000-0000-4000-8000-000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^404 not_found/);
  });
});
