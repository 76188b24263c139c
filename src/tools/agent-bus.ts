import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';

export interface AgentMessage {
  id: string;
  fromTaskId: string;
  fromAgent: string;
  toAgent: string;
  text: string;
  createdAt: Date;
}

/** Messages between the agents of one plan. */
export interface AgentBus {
  send(planId: string, fromTaskId: string, fromAgent: string, toAgent: string, text: string): Promise<AgentMessage>;
  /** Messages addressed to `toAgent` in the plan, oldest first. */
  inbox(planId: string, toAgent: string): Promise<AgentMessage[]>;
}

/** An AgentBus over the `agent_messages` table. Emitting events is the engine's part. */
export function createSqlAgentBus(db: Kysely<Database>): AgentBus {
  const toMessage = (r: {
    id: string;
    from_task_id: string;
    from_agent: string;
    to_agent: string;
    text: string;
    created_at: Date;
  }): AgentMessage => ({
    id: String(r.id),
    fromTaskId: r.from_task_id,
    fromAgent: r.from_agent,
    toAgent: r.to_agent,
    text: r.text,
    createdAt: r.created_at,
  });

  return {
    async send(planId, fromTaskId, fromAgent, toAgent, text) {
      const row = await db
        .insertInto('agent_messages')
        .values({ plan_id: planId, from_task_id: fromTaskId, from_agent: fromAgent, to_agent: toAgent, text })
        .returning(['id', 'from_task_id', 'from_agent', 'to_agent', 'text', 'created_at'])
        .executeTakeFirstOrThrow();
      return toMessage(row);
    },

    async inbox(planId, toAgent) {
      const rows = await db
        .selectFrom('agent_messages')
        .select(['id', 'from_task_id', 'from_agent', 'to_agent', 'text', 'created_at'])
        .where('plan_id', '=', planId)
        .where('to_agent', '=', toAgent)
        .orderBy('id', 'asc')
        .execute();
      return rows.map(toMessage);
    },
  };
}
