/** One stored memory entry matching a search, best first. */
export interface MemoryHit {
  content: string;
  score: number;
}

/**
 * The project memory the tools need. `createSqlProjectMemory` implements it
 * with PostgreSQL full-text search; a vector-search implementation
 * (`src/cache/project-memory.ts`) implements the same port.
 *
 * Every call carries the user and the project: an implementation must never
 * return or write an entry outside that pair.
 */
export interface ProjectMemoryPort {
  search(q: { userId: string; projectId: string; query: string; k: number }): Promise<MemoryHit[]>;
  write(entry: { userId: string; projectId: string; content: string; kind: string; source: string }): Promise<void>;
}
