/** The API's resources as the UI reads them (api.md, plus the README's extensions). */

export interface ProjectSettings {
  approval_threshold_usd: number;
  approval_timeout_s: number;
  max_parallel_tasks: number;
}

export interface Project {
  id: string;
  name: string;
  settings: ProjectSettings;
  created_at: string;
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

export interface Agent {
  id: string;
  project_id: string;
  name: string;
  config: AgentConfig;
  status: 'active' | 'disabled';
  starter_pack: boolean;
  created_at: string;
}

export interface Session {
  id: string;
  project_id: string;
  topic: string | null;
  created_at: string;
}

export interface Message {
  id: string;
  role: 'user' | 'assistant';
  content: string;
  plan_id: string | null;
  created_at: string;
}

export type TaskStatus = 'pending' | 'queued' | 'running' | 'completed' | 'failed' | 'skipped' | 'cancelled';
export type PlanStatus =
  | 'planning' | 'created' | 'pending_approval' | 'executing'
  | 'completed' | 'failed' | 'partial_success' | 'rejected' | 'expired' | 'cancelled';

export interface Task {
  id: string;
  task_id: string;
  description: string;
  agent_id: string | null;
  agent_name: string;
  dependencies: string[];
  estimated_cost: number;
  estimated_duration: number;
  actual_cost: number | null;
  risk_level: 'low' | 'medium' | 'high';
  status: TaskStatus;
  result: string | null;
  error: string | null;
  attempts: number;
  started_at: string | null;
  completed_at: string | null;
  llm_provider?: string | null;
}

export interface Plan {
  id: string;
  project_id: string;
  session_id: string;
  original_request: string;
  status: PlanStatus;
  total_estimated_cost: number | null;
  total_estimated_duration: number | null;
  total_actual_cost: number;
  requires_approval: boolean;
  approval_reason: string | null;
  approval_expires_at: string | null;
  cache_hit: boolean;
  critical_path: string[];
  summary: string | null;
  error: string | null;
  created_at: string;
  completed_at: string | null;
  tasks: Task[];
  llm_provider?: string | null;
  events_url: string;
}

/** One event of a plan's stream (events.md): common fields plus the type's own. */
export interface PlanEvent {
  seq?: number;
  type: string;
  plan_id: string;
  task_id?: string;
  at: string;
  [field: string]: unknown;
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export const TERMINAL_PLAN: ReadonlySet<string> = new Set(['completed', 'failed', 'partial_success', 'rejected', 'expired', 'cancelled']);
