import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { ChatRequest, ChatResponse, LlmClient, ToolCall } from '../src/core/llm.js';
import type { ToolContext } from '../src/tools/tool.js';
import { seedPlan as seedCreatedPlan } from './helpers/seed.js';

/** Fixtures shared by the tools test files (not a test file itself). */

export interface Owner {
  userId: string;
  projectId: string;
}

export async function seedProject(db: Kysely<Database>, userId?: string): Promise<Owner> {
  const uid =
    userId ??
    (await db.insertInto('users').values({ subject: `sub-${randomUUID()}` }).returning('id').executeTakeFirstOrThrow()).id;
  const project = await db
    .insertInto('user_projects')
    .values({ user_id: uid, name: 'p', settings: '{}' })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { userId: uid, projectId: project.id };
}

/** An executing plan with no tasks (tools only need a plan to belong to). */
export async function seedPlan(db: Kysely<Database>, owner: Owner): Promise<string> {
  const planId = await seedCreatedPlan(db, { ...owner, agents: new Map() }, []);
  await db.updateTable('task_plans').set({ status: 'executing' }).where('id', '=', planId).execute();
  return planId;
}

/** A task request to a scripted model: the system prompt of a researcher and the task text as the user turn. */
export const taskRequest = (task: string): Omit<ChatRequest, 'tools'> => ({
  provider: 'scripted',
  model: 'scripted-1',
  messages: [
    { role: 'system', content: 'You are a researcher.' },
    { role: 'user', content: task },
  ],
  meta: { purpose: 'task' },
});

/** Every project's memory entries, to check nothing crossed projects. */
export const allMemory = (db: Kysely<Database>) =>
  db.selectFrom('project_memory').select(['project_id', 'content']).orderBy('content').execute();

export function toolContext(db: Kysely<Database>, owner: Owner, extra: Partial<ToolContext> = {}): ToolContext {
  return {
    userId: owner.userId,
    projectId: owner.projectId,
    planId: randomUUID(),
    taskId: 't1',
    agentName: 'researcher',
    signal: new AbortController().signal,
    db,
    ...extra,
  };
}

/** One scripted model turn: tool calls to make, or a text answer. */
export type Turn = { calls: Array<Omit<ToolCall, 'id'>> } | { text: string };

/**
 * A stand-in for the external model: returns scripted turns in order and
 * keeps every request it received, so tests can read what the model was shown.
 */
export class ScriptedLlm implements LlmClient {
  readonly requests: ChatRequest[] = [];
  private next = 0;

  constructor(
    private readonly turns: Turn[],
    private readonly opts: { delayMs?: number; repeatLast?: boolean } = {},
  ) {}

  async chat(req: ChatRequest): Promise<ChatResponse> {
    this.requests.push(structuredClone({ ...req, signal: undefined, onDelta: undefined }));
    if (this.opts.delayMs) await abortableDelay(this.opts.delayMs, req.signal);
    const index = this.opts.repeatLast ? Math.min(this.next, this.turns.length - 1) : this.next;
    const turn = this.turns[index];
    if (!turn) throw new Error(`scripted model has no turn ${this.next + 1}`);
    this.next++;
    const toolCalls = 'calls' in turn ? turn.calls.map((c, i) => ({ id: `call_${this.next}_${i}`, ...c })) : [];
    return {
      text: 'text' in turn ? turn.text : '',
      toolCalls,
      usage: { inputTokens: 10, outputTokens: 5 },
      costUsd: 0.001,
      provider: 'scripted',
      model: 'scripted-1',
      latencyMs: this.opts.delayMs ?? 0,
      finishReason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
    };
  }
}

function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
