import type { ChatMessage, ChatRequest, ChatResponse, LlmClient, ToolCall } from '../core/llm.js';
import { abortError, llmError } from './errors.js';
import { DEFAULT_PRICES, type PriceTable } from './prices.js';
import { priceCall } from './pricing.js';
import { simulatedPlan } from './simulated-plan.js';
import { abortableSleep } from './sleep.js';
import { countMessagesTokens, countTokens } from './tokens.js';

/**
 * A deterministic, offline provider (runtime.md, "The simulated provider").
 * Every response says `provider: 'simulated'`; costs use the price of the real
 * model named in the request.
 *
 * Scripting conventions, read from the request's messages:
 * - ```` ```plan ```` fenced block (planning calls): its content is returned verbatim.
 *   Several blocks script repairs: the call after k assistant turns gets block k
 *   (the last one once they run out).
 * - ```` ```tools ```` fenced block holding `[{"name","arguments"}]`: the first
 *   response asks for those tool calls; once `tool` messages are present the
 *   final text quotes their outputs.
 * - Dependency results: `<result task="t1" agent="researcher">…</result>` blocks
 *   or `Result of t1 (researcher):` headed sections are quoted by their first words.
 */
export interface SimulatedProviderOptions {
  /** Default latency per call when the request carries no `sim.latency_ms`. */
  latencyMs: number;
  prices?: PriceTable;
  /** Output tokens reported when `sim.output_tokens` is absent. */
  defaultOutputTokens?: number;
}

export const SIMULATED = 'simulated';
const STREAM_CHUNKS = 4;

export function createSimulatedProvider(opts: SimulatedProviderOptions): LlmClient {
  const prices = opts.prices ?? DEFAULT_PRICES;
  const defaultOutputTokens = opts.defaultOutputTokens ?? 200;

  return {
    async chat(req: ChatRequest): Promise<ChatResponse> {
      const started = Date.now();
      const { model } = req;
      if (req.signal?.aborted) throw abortError(SIMULATED, model, req.signal.reason);
      scriptedFailure(req);

      const latencyMs = req.sim?.latency_ms ?? opts.latencyMs;
      const reply = req.meta.purpose === 'plan' ? planReply(req) : agentReply(req);
      const inputTokens = countMessagesTokens(req.messages, SIMULATED, model);
      const outputTokens =
        req.meta.purpose === 'plan' && req.sim?.output_tokens === undefined
          ? countTokens(reply.text, SIMULATED, model)
          : (req.sim?.output_tokens ?? defaultOutputTokens);

      let ttftMs: number | undefined;
      if (req.onDelta && reply.text !== '') {
        const chunks = splitChunks(reply.text, STREAM_CHUNKS);
        for (const [i, chunk] of chunks.entries()) {
          // Each chunk is due at its share of the latency from the start, so a
          // late timer does not push the later chunks (nor the call's end) back.
          const due = started + (latencyMs * (i + 1)) / chunks.length;
          await abortableSleep(Math.max(0, due - Date.now()), req.signal).catch((e) => {
            throw abortError(SIMULATED, model, e);
          });
          ttftMs ??= Date.now() - started;
          req.onDelta(chunk);
        }
      } else {
        await abortableSleep(latencyMs, req.signal).catch((e) => {
          throw abortError(SIMULATED, model, e);
        });
      }

      return {
        text: reply.text,
        toolCalls: reply.toolCalls,
        usage: { inputTokens, outputTokens },
        costUsd: priceCall(prices, SIMULATED, model, inputTokens, outputTokens),
        provider: SIMULATED,
        model,
        latencyMs: Date.now() - started,
        ttftMs,
        finishReason: reply.toolCalls.length > 0 ? 'tool_calls' : 'stop',
      };
    },
  };
}

/** `fail: 'transient'` fails the job's first attempt only; `'always'` fails every one, permanently. */
function scriptedFailure(req: ChatRequest): void {
  const fail = req.sim?.fail ?? 'never';
  const model = req.model;
  if (fail === 'always') {
    throw llmError('LLM_PROVIDER_ERROR', `simulated permanent failure (sim.fail=always) for task ${req.meta.taskId ?? '?'}`, {
      provider: SIMULATED,
      model,
      status: 500,
      retryable: false,
      simulated: true,
    });
  }
  if (fail === 'transient' && (req.meta.attempt ?? 1) <= 1) {
    throw llmError('LLM_PROVIDER_ERROR', `simulated transient failure (sim.fail=transient), attempt ${req.meta.attempt ?? 1}`, {
      provider: SIMULATED,
      model,
      status: 503,
      retryable: true,
      simulated: true,
    });
  }
}

interface Reply {
  text: string;
  toolCalls: ToolCall[];
}

const allText = (messages: readonly ChatMessage[]) => messages.map((m) => m.content).join('\n');

function fenced(text: string, tag: string): string | undefined {
  const match = new RegExp('```' + tag + '[ \\t]*\\r?\\n([\\s\\S]*?)```').exec(text);
  return match?.[1]?.trim();
}

function lastUserText(messages: readonly ChatMessage[]): string {
  return [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
}

function fencedAll(text: string, tag: string): string[] {
  return [...text.matchAll(new RegExp('```' + tag + '[ \\t]*\\r?\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!.trim());
}

/**
 * Several ```plan blocks script a repair conversation: the planning call that
 * follows k assistant turns (k rejected answers) gets block k, and the last
 * block once they run out; a single block is returned on every call.
 */
function planReply(req: ChatRequest): Reply {
  const fromRequest = fencedAll(req.simContext?.request ?? '', 'plan');
  const scripts = fromRequest.length > 0 ? fromRequest : fencedAll(allText(req.messages), 'plan');
  if (scripts.length > 0) {
    const round = req.messages.filter((m) => m.role === 'assistant').length;
    return { text: scripts[Math.min(round, scripts.length - 1)]!, toolCalls: [] };
  }
  return { text: JSON.stringify(simulatedPlan(req.simContext ?? {}, lastUserText(req.messages))), toolCalls: [] };
}

function firstWords(text: string, n = 8): string {
  const words = text.replace(/\s+/g, ' ').trim().split(' ');
  return words.slice(0, n).join(' ') + (words.length > n ? '…' : '');
}

/** Dependency results the engine put in the prompt, in order of appearance. */
export function dependencyResults(text: string): Array<{ task: string; agent?: string; text: string }> {
  const found: Array<{ task: string; agent?: string; text: string; at: number }> = [];
  const tagged = /<result\s+task="([^"]+)"(?:\s+agent="([^"]*)")?\s*>([\s\S]*?)<\/result>/g;
  for (const m of text.matchAll(tagged)) found.push({ task: m[1]!, agent: m[2], text: m[3]!.trim(), at: m.index });
  // A header line, then its text up to a blank line or the next header.
  const headed = /^#*[ \t]*Result of (?:task )?([\w-]+)(?: \(([^)]*)\))?:[ \t]*\r?\n?((?:(?!#*[ \t]*Result of |[ \t]*<result )[ \t]*\S[^\n]*(?:\n|$))*)/gim;
  for (const m of text.matchAll(headed)) found.push({ task: m[1]!, agent: m[2], text: m[3]!.trim(), at: m.index });
  return found.sort((a, b) => a.at - b.at).map(({ at: _at, ...r }) => r);
}

function agentReply(req: ChatRequest): Reply {
  const { meta } = req;
  const taskText = lastUserText(req.messages);
  const toolMessages = req.messages.filter((m) => m.role === 'tool');
  const scriptedTools = fenced(allText(req.messages), 'tools');

  if (scriptedTools !== undefined && toolMessages.length === 0) {
    let calls: unknown;
    try {
      calls = JSON.parse(scriptedTools);
    } catch (cause) {
      throw llmError('LLM_BAD_REQUEST', 'the ```tools block is not valid JSON', { provider: SIMULATED, model: req.model, retryable: false }, cause);
    }
    if (!Array.isArray(calls) || !calls.every((c) => typeof c?.name === 'string')) {
      throw llmError('LLM_BAD_REQUEST', 'the ```tools block must be [{"name","arguments"}]', { provider: SIMULATED, model: req.model, retryable: false });
    }
    return {
      text: '',
      toolCalls: calls.map((c: { name: string; arguments?: unknown }, i) => ({
        id: `sim_call_${i + 1}`,
        name: c.name,
        arguments: c.arguments ?? {},
      })),
    };
  }

  const who = meta.agentName ?? 'agent';
  const task = meta.taskId ? `task ${meta.taskId}` : meta.purpose === 'synthesis' ? 'the final answer' : 'the request';
  // The task's own words: what comes before any quoted result or fenced block.
  const ownText = taskText.split(/<result\s|^#*[ \t]*Result of /im)[0]!.replace(/```[\s\S]*?```/g, ' ');
  const description = firstWords(ownText, 14);
  const lines = [`[simulated ${who}] Completed ${task}: "${description}".`];
  const deps = dependencyResults(allText(req.messages));
  lines.push(
    deps.length === 0
      ? 'It received no results from other tasks.'
      : `It used ${deps.length} result${deps.length === 1 ? '' : 's'}: ${deps
          .map((d) => `${d.task}${d.agent ? ` (${d.agent})` : ''} "${firstWords(d.text, 6)}"`)
          .join('; ')}.`,
  );
  if (toolMessages.length > 0) {
    const callNames = new Map(req.messages.flatMap((m) => m.toolCalls ?? []).map((c) => [c.id, c.name]));
    lines.push(
      `Tool results: ${toolMessages
        .map((m) => `${callNames.get(m.toolCallId ?? '') ?? 'tool'} → ${m.content}`)
        .join('; ')}.`,
    );
  }
  return { text: lines.join('\n'), toolCalls: [] };
}

function splitChunks(text: string, n: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / n));
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
  return chunks;
}
