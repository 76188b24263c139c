import type { SimOptions } from '../../db/schema.js';

/**
 * The LLM port of the domain. Adapters (OpenAI, Anthropic, simulated) live in
 * `src/llm/`; the router implements this same interface over them.
 */
export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

export interface ToolCall {
  id: string;
  name: string;
  /** Parsed JSON arguments (providers' formats are normalised to this). */
  arguments: unknown;
}

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** For role `tool`: the call this message answers. */
  toolCallId?: string;
  /** For role `assistant`: the tool calls it made. */
  toolCalls?: ToolCall[];
}

export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
}

/** Who a call is for; recorded with it in `llm_calls`. */
export interface CallMeta {
  purpose: 'plan' | 'task' | 'synthesis' | 'embedding' | 'other';
  userId?: string;
  projectId?: string;
  planId?: string;
  /** Row id (uuid) of the task. */
  taskRowId?: string;
  /** Plan-level task id, e.g. `t1`. */
  taskId?: string;
  agentId?: string;
  agentName?: string;
  /** 1-based attempt of the job that makes the call. */
  attempt?: number;
  /** The planner's estimate for this call, stored beside the actual cost in `llm_calls`. */
  estimatedCostUsd?: number;
}

/** What the simulated provider needs to plan; only it reads this (real providers ignore it). */
export interface SimContext {
  /** The user's request, as typed. */
  request?: string;
  /** The project's active agents the plan may use. */
  agents?: Array<{ name: string; role: string; capabilities: string[] }>;
}

export interface ChatRequest {
  provider: string;
  model: string;
  messages: ChatMessage[];
  tools?: ToolSpec[];
  /** Ask for JSON matching this schema (structured output / forced tool). */
  responseSchema?: { name: string; schema: Record<string, unknown> };
  temperature?: number;
  maxOutputTokens?: number;
  signal?: AbortSignal;
  /** Streamed text as it arrives. */
  onDelta?: (text: string) => void;
  /** Scripted behaviour for the simulated provider; ignored by real ones. */
  sim?: SimOptions;
  /** Planning input for the simulated provider's heuristic; used by the simulated provider only. */
  simContext?: SimContext;
  meta: CallMeta;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export interface ChatResponse {
  text: string;
  toolCalls: ToolCall[];
  usage: Usage;
  costUsd: number;
  provider: string;
  model: string;
  latencyMs: number;
  ttftMs?: number;
  finishReason: 'stop' | 'length' | 'tool_calls' | 'error';
}

export interface LlmClient {
  chat(req: ChatRequest): Promise<ChatResponse>;
  /** Resolves once every call record still being written is written (shutdown). */
  settled?(): Promise<void>;
}
