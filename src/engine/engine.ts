import type { Deps } from '../deps.js';
import { createRedis } from '../redis.js';
import { createAdmission, type Admission } from './admission.js';
import { createCancelBus, type CancelBus } from './cancel-bus.js';
import { createPlanControl, type PlanControl } from './plan-control.js';
import { createToolRegistry, defaultTools, type ToolRegistry } from '../tools/registry.js';
import { createSqlAgentBus, type AgentBus } from '../tools/agent-bus.js';
import { createSqlProjectMemory } from '../tools/sql-project-memory.js';
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
    memory: opts.memory ?? createSqlProjectMemory(deps.db),
    close: () => cancelBus.close(),
  };
}
