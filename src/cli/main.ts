import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { HELP } from './help.js';
import { ApiRequestError, createHttpClient, describeApiError, type HttpClient } from './http-client.js';
import { StreamError } from './event-stream.js';
import { followPlan, type Output } from './follow-plan.js';

export const DEFAULT_URL = 'http://localhost:3000';

export interface CliIo extends Output {
  /** CODELAB_TOKEN and CODELAB_URL are read from here. */
  env: Record<string, string | undefined>;
  stdin: Readable;
}

class UsageError extends Error {}

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  project: { type: 'string', short: 'p' },
  session: { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  reason: { type: 'string' },
  yes: { type: 'boolean', short: 'y' },
  no: { type: 'boolean', short: 'n' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`${what} is required`);
  if (!UUID.test(value)) throw new UsageError(`${what} must be an id (a UUID), got "${value}"`);
  return value;
}

/** One y/n question on stdin; null when stdin ends first. */
function asker(io: CliIo) {
  let lines: AsyncIterator<string> | undefined;
  return async (question: string): Promise<boolean | null> => {
    io.err(question);
    lines ??= createInterface({ input: io.stdin, terminal: false })[Symbol.asyncIterator]();
    const next = await lines.next();
    if (next.done) return null;
    return /^\s*y(es)?\s*$/i.test(next.value);
  };
}

/** Runs one command line; returns the exit code (0 ok / completed, 1 failed or refused, 2 usage). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (err) {
    io.err(`${(err as Error).message}\n\n${HELP.main}`);
    return 2;
  }
  const [command, ...rest] = positionals;
  if (!command || command === 'help') {
    (values.help || command === 'help' ? io.out : io.err)(HELP.main);
    return values.help || command === 'help' ? 0 : 2;
  }
  const help = HELP[command];
  if (!help || command === 'main') {
    io.err(`unknown command "${command}"\n\n${HELP.main}`);
    return 2;
  }
  if (values.help) {
    io.out(help);
    return 0;
  }
  try {
    const token = values.token ?? io.env.CODELAB_TOKEN;
    if (!token) throw new UsageError('a token is required: --token or CODELAB_TOKEN (npm run -s token -- --sub you)');
    if (values.yes && values.no) throw new UsageError('--yes and --no exclude each other');
    const client = createHttpClient(values.url ?? io.env.CODELAB_URL ?? DEFAULT_URL, token);
    return await run(command, rest, values, client, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\n\n${help}`);
      return 2;
    }
    if (err instanceof ApiRequestError) {
      io.err(describeApiError(err));
      return 1;
    }
    if (err instanceof StreamError) {
      io.err(err.message);
      return 1;
    }
    throw err;
  }
}

async function run(command: string, args: string[], v: Values, client: HttpClient, io: CliIo): Promise<number> {
  const json = Boolean(v.json);
  const list = async <T>(path: string, line: (item: T) => string) => {
    const page = await client.get<{ items: T[] }>(path);
    if (json) for (const item of page.items) io.out(JSON.stringify(item));
    else if (page.items.length === 0) io.out('(none)');
    else for (const item of page.items) io.out(line(item));
    return 0;
  };
  const follow = { json, decide: v.yes ? 'yes' : v.no ? 'no' : 'ask', ask: asker(io) } as const;
  const onePlan = () => {
    if (args.length !== 1) throw new UsageError('one PLAN_ID is expected');
    return need(args[0], 'PLAN_ID');
  };
  switch (command) {
    case 'projects':
      return list<{ id: string; name: string; created_at: string }>('/v1/projects?limit=100', (p) => `${p.id}  ${p.name}`);
    case 'agents': {
      const project = need(v.project, '--project');
      return list<{ id: string; name: string; status: string; config: { provider: string; model: string; role: string } }>(
        `/v1/projects/${project}/agents?limit=100`,
        (a) => `${a.name.padEnd(16)} ${a.status.padEnd(8)} ${`${a.config.provider}/${a.config.model}`.padEnd(28)} ${a.config.role}`,
      );
    }
    case 'plans': {
      const project = need(v.project, '--project');
      const q = new URLSearchParams({ limit: v.limit ?? '20', ...(v.status ? { status: v.status } : {}) });
      return list<{ id: string; status: string; total_estimated_cost: number | null; total_actual_cost: number; original_request: string }>(
        `/v1/projects/${project}/plans?${q}`,
        (p) => `${p.id}  ${p.status.padEnd(16)} $${p.total_actual_cost.toFixed(4)}  ${p.original_request.replace(/\s+/g, ' ').slice(0, 60)}`,
      );
    }
    case 'chat': {
      const project = need(v.project, '--project');
      const message = args.join(' ').trim();
      if (!message) throw new UsageError('a message is required');
      const accepted = await client.post<{ plan_id: string; session_id: string }>(`/v1/projects/${project}/chat`, {
        message,
        ...(v.session ? { session_id: need(v.session, '--session') } : {}),
      });
      if (!json) io.out(`plan ${accepted.plan_id} (session ${accepted.session_id})`);
      return followPlan(client, project, accepted.plan_id, follow, io);
    }
    case 'watch':
      return followPlan(client, need(v.project, '--project'), onePlan(), follow, io);
    case 'approve':
    case 'reject': {
      const project = need(v.project, '--project');
      const planId = onePlan();
      const plan = await client.post<{ id: string; status: string }>(
        `/v1/projects/${project}/plans/${planId}/${command}`,
        command === 'reject' ? (v.reason ? { reason: v.reason } : {}) : undefined,
      );
      io.out(json ? JSON.stringify(plan) : `plan ${plan.id} is now ${plan.status}`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}
