import type { ColumnType, Generated, Insertable, JSONColumnType, Selectable, Updateable } from 'kysely';

/** Timestamps come back as Date and may be written as Date or ISO string. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T extends object | null> = JSONColumnType<T, string, string>;

export type PlanStatus =
  | 'planning'
  | 'created'
  | 'pending_approval'
  | 'executing'
  | 'completed'
  | 'failed'
  | 'partial_success'
  | 'rejected'
  | 'expired'
  | 'cancelled';
export type TaskStatus = 'pending' | 'queued' | 'running' | 'completed' | 'failed' | 'skipped' | 'cancelled';
export type RiskLevel = 'low' | 'medium' | 'high';

export interface UsersTable {
  id: Generated<string>;
  subject: string;
  email: string | null;
  username: string | null;
  created_at: Timestamp;
}

export interface ProjectSettings {
  approval_threshold_usd?: number;
  approval_timeout_s?: number;
  max_parallel_tasks?: number;
}

export interface UserProjectsTable {
  id: Generated<string>;
  user_id: string;
  name: string;
  settings: Json<ProjectSettings>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface AgentConfig {
  role: string;
  system_prompt: string;
  provider: string;
  model: string;
  temperature: number;
  max_output_tokens: number;
  tools: string[];
  capabilities: string[];
}

export interface UserAgentsTable {
  id: Generated<string>;
  user_id: string;
  project_id: string;
  name: string;
  config: Json<AgentConfig>;
  status: 'active' | 'disabled';
  starter_pack: Generated<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ChatSessionsTable {
  id: Generated<string>;
  user_id: string;
  project_id: string;
  topic: string | null;
  created_at: Timestamp;
}

export interface TaskPlansTable {
  id: Generated<string>;
  user_id: string;
  project_id: string;
  session_id: string;
  original_request: string;
  status: PlanStatus;
  total_estimated_cost: number | null;
  total_estimated_duration: number | null;
  total_actual_cost: Generated<number>;
  requires_approval: Generated<boolean>;
  approval_reason: string | null;
  approval_expires_at: NullableTimestamp;
  cache_hit: Generated<boolean>;
  critical_path: Json<string[]>;
  summary: string | null;
  error: string | null;
  error_code: string | null;
  llm_provider: string | null;
  event_seq: Generated<number>;
  decided_by: string | null;
  decided_at: NullableTimestamp;
  decision_reason: string | null;
  created_at: Timestamp;
  started_at: NullableTimestamp;
  completed_at: NullableTimestamp;
}

/** Options a scripted (```plan) request attaches to a task for the simulated provider. */
export interface SimOptions {
  latency_ms?: number;
  output_tokens?: number;
  fail?: 'never' | 'always' | 'transient';
}

export interface TaskPlanTasksTable {
  id: Generated<string>;
  plan_id: string;
  task_id: string;
  description: string;
  agent_id: string | null;
  agent_name: string;
  dependencies: Json<string[]>;
  estimated_cost: number;
  estimated_duration: number;
  estimated_input_tokens: number;
  estimated_output_tokens: number;
  actual_cost: number | null;
  input_tokens: Generated<number>;
  output_tokens: Generated<number>;
  risk_level: RiskLevel;
  status: TaskStatus;
  result: Json<{ text: string } & Record<string, unknown>> | null;
  error: string | null;
  attempts: Generated<number>;
  level: number;
  sim: Json<SimOptions> | null;
  lease_token: string | null;
  lease_until: NullableTimestamp;
  created_at: Timestamp;
  queued_at: NullableTimestamp;
  started_at: NullableTimestamp;
  completed_at: NullableTimestamp;
}

export type LlmCallPurpose = 'plan' | 'task' | 'synthesis' | 'embedding' | 'other';
export type LlmCallOutcome = 'ok' | 'error' | 'timeout' | 'rate_limited' | 'aborted';

export interface LlmCallsTable {
  id: Generated<string>;
  user_id: string | null;
  project_id: string | null;
  plan_id: string | null;
  task_id: string | null;
  agent_id: string | null;
  agent_name: string | null;
  purpose: LlmCallPurpose;
  provider: string;
  model: string;
  input_tokens: number;
  output_tokens: number;
  cost: number;
  estimated_cost: number | null;
  latency_ms: number;
  ttft_ms: number | null;
  outcome: LlmCallOutcome;
  error: string | null;
  attempt: number;
  created_at: Timestamp;
}

export interface PlanEventsTable {
  id: Generated<string>;
  plan_id: string;
  session_id: string;
  seq: number;
  type: string;
  task_id: string | null;
  payload: Json<Record<string, unknown>>;
  at: Timestamp;
}

export interface ChatMessagesTable {
  id: Generated<string>;
  session_id: string;
  user_id: string;
  project_id: string;
  role: 'user' | 'assistant';
  content: string;
  plan_id: string | null;
  created_at: Timestamp;
}

export interface AgentMessagesTable {
  id: Generated<string>;
  plan_id: string;
  from_task_id: string;
  from_agent: string;
  to_agent: string;
  text: string;
  created_at: Timestamp;
}

export interface ProjectMemoryTable {
  id: Generated<string>;
  user_id: string;
  project_id: string;
  kind: string;
  content: string;
  source: string | null;
  created_at: Timestamp;
}

export interface VectorCollectionsTable {
  name: string;
  dims: number;
  created_at: Timestamp;
}

/** Embeddings kept in PostgreSQL (see db/migrations/0003_vectors.ts). */
export interface VectorsTable {
  collection: string;
  id: string;
  user_id: string;
  project_id: string;
  kind: string;
  payload: Json<Record<string, unknown>>;
  dims: number;
  /** 256 '0'/'1' characters: the sign sketch used to preselect candidates. */
  sketch: string;
  embedding: number[];
  created_at: Timestamp;
}

/** Unexpected errors by fingerprint (db/migrations/0005_errors.ts, src/ops/error-tracker.ts). */
export interface ErrorsTable {
  fingerprint: string;
  source: string;
  name: string;
  /** int8: pg returns it as a string. */
  count: ColumnType<string, never, string>;
  first_seen: ColumnType<Date, never, never>;
  last_seen: ColumnType<Date, never, Date | string>;
  sample_message: string;
  sample_stack: string;
}

export interface Database {
  users: UsersTable;
  user_projects: UserProjectsTable;
  user_agents: UserAgentsTable;
  chat_sessions: ChatSessionsTable;
  task_plans: TaskPlansTable;
  task_plan_tasks: TaskPlanTasksTable;
  llm_calls: LlmCallsTable;
  plan_events: PlanEventsTable;
  chat_messages: ChatMessagesTable;
  agent_messages: AgentMessagesTable;
  project_memory: ProjectMemoryTable;
  vector_collections: VectorCollectionsTable;
  vectors: VectorsTable;
  errors: ErrorsTable;
}

export type User = Selectable<UsersTable>;
export type Project = Selectable<UserProjectsTable>;
export type Agent = Selectable<UserAgentsTable>;
export type ChatSession = Selectable<ChatSessionsTable>;
export type Plan = Selectable<TaskPlansTable>;
export type PlanTask = Selectable<TaskPlanTasksTable>;
export type NewPlanTask = Insertable<TaskPlanTasksTable>;
export type PlanUpdate = Updateable<TaskPlansTable>;
export type PlanEvent = Selectable<PlanEventsTable>;
export type ErrorRecord = Selectable<ErrorsTable>;
