/** One stored memory entry matching a search, best first. */
export interface MemoryHit {
  content: string;
  score: number;
}

/**
 * The project memory the tools need. The engine gives the tools the
 * project's vector memory (`src/cache/project-memory.ts`, adapted in
 * `src/engine/engine.ts`), the same store task context comes from;
 * `createSqlProjectMemory` is a PostgreSQL full-text implementation of the
 * same port, used by the tool tests.
 *
 * Every call carries the user and the project: an implementation must never
 * return or write an entry outside that pair.
 */
export interface ProjectMemoryPort {
  search(q: { userId: string; projectId: string; query: string; k: number }): Promise<MemoryHit[]>;
  write(entry: { userId: string; projectId: string; content: string; kind: string; source: string }): Promise<void>;
}
