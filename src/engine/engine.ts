import type { Deps } from '../deps.js';
import { createRedis } from '../redis.js';
import { createAdmission, type Admission } from './admission.js';
import { createCancelBus, type CancelBus } from './cancel-bus.js';
import { createPlanControl, type PlanControl } from './plan-control.js';
import { createToolRegistry, defaultTools, type ToolRegistry } from '../tools/registry.js';
import { createSqlAgentBus, type AgentBus } from '../tools/agent-bus.js';
import type { ProjectMemoryPort } from '../tools/project-memory.js';

/** What a worker process needs to run plans: plan control plus admission, cancellation, tools. */
export interface Engine extends PlanControl {
  admission: Admission;
  cancelBus: CancelBus;
  /** The agents' tools, shared by every task of the process. */
  tools: ToolRegistry;
  bus: AgentBus;
  memory: ProjectMemoryPort;
  close(): Promise<void>;
}

export function createEngine(deps: Deps, opts: { memory?: ProjectMemoryPort } = {}): Engine {
  const subscriber = createRedis(deps.config.REDIS_URL, 'codelab:cancel-sub');
  subscriber.on('error', () => undefined);
  const cancelBus = createCancelBus(subscriber, deps.prefix);
  return {
    ...createPlanControl(deps),
    admission: createAdmission(deps.redis, deps.prefix, deps.config.TASK_LEASE_MS),
    cancelBus,
    tools: createToolRegistry(defaultTools()),
    bus: createSqlAgentBus(deps.db),
    // The tools' memory port over the project's vector memory (same store as task context).
    memory: opts.memory ?? {
      search: async (q) => (await deps.memory.search({ ...q, tokenBudget: deps.config.CONTEXT_TOKEN_BUDGET })).map((e) => ({ content: e.content, score: e.score })),
      write: async (e) => void (await deps.memory.write(e)),
    },
    close: () => cancelBus.close(),
  };
}
