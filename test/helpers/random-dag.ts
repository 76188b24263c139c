import type { SeedTask } from './seed.js';

/** mulberry32: a small seeded PRNG, so a failing DAG can be reproduced from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const AGENTS = ['researcher', 'coder', 'writer', 'reviewer', 'analyst'];
export type Shape = 'chain' | 'fanout' | 'fanin' | 'diamond' | 'layered' | 'random';

export interface RandomDagOptions {
  /** Exactly this many tasks (default: 1 + a draw below `maxTasks`). */
  tasks?: number;
  /** This shape (default: a draw among all shapes). */
  shape?: Shape;
}

/**
 * A random DAG of up to `maxTasks` tasks in one of several shapes. Edges go
 * from lower to higher index only, so it is acyclic by construction.
 * `opts` pins the task count and/or the shape; the PRNG makes the same draws
 * in the same order either way, so callers that do not pass it get exactly
 * the DAGs they always got (the property test's seeds stay reproducible).
 */
export function randomDag(seed: number, maxTasks = 30, latency = () => 5, opts: RandomDagOptions = {}): { shape: Shape; tasks: SeedTask[] } {
  const r = rng(seed);
  const shapes: Shape[] = ['chain', 'fanout', 'fanin', 'diamond', 'layered', 'random'];
  const drawnShape = shapes[Math.floor(r() * shapes.length)]!;
  const drawnN = 1 + Math.floor(r() * maxTasks);
  const shape = opts.shape ?? drawnShape;
  if (opts.tasks !== undefined && !(Number.isInteger(opts.tasks) && opts.tasks >= 1)) throw new Error(`randomDag: tasks must be a positive integer, got ${opts.tasks}`);
  const n = opts.tasks ?? drawnN;
  const deps: string[][] = Array.from({ length: n }, () => []);
  const id = (i: number) => `t${i}`;
  switch (shape) {
    case 'chain':
      for (let i = 1; i < n; i++) deps[i] = [id(i - 1)];
      break;
    case 'fanout':
      for (let i = 1; i < n; i++) deps[i] = [id(0)];
      break;
    case 'fanin':
      if (n > 1) deps[n - 1] = Array.from({ length: n - 1 }, (_, i) => id(i));
      break;
    case 'diamond':
      for (let i = 1; i < n - 1; i++) deps[i] = [id(0)];
      if (n > 2) deps[n - 1] = Array.from({ length: n - 2 }, (_, i) => id(i + 1));
      break;
    case 'layered': {
      const width = 1 + Math.floor(r() * 6);
      for (let i = width; i < n; i++) {
        const layerStart = Math.floor(i / width) * width;
        const prev = Array.from({ length: width }, (_, k) => layerStart - width + k).filter((k) => k >= 0);
        deps[i] = prev.filter(() => r() < 0.6).map(id);
        if (deps[i]!.length === 0) deps[i] = [id(prev[0]!)];
      }
      break;
    }
    default:
      for (let i = 1; i < n; i++) for (let j = 0; j < i; j++) if (r() < 3 / i) deps[i]!.push(id(j));
  }
  return {
    shape,
    tasks: deps.map((d, i) => ({ id: id(i), deps: d, agent: AGENTS[i % AGENTS.length], sim: { latency_ms: latency(), output_tokens: 20 } })),
  };
}

/** Length of the longest dependency chain (in tasks). */
export function depth(tasks: SeedTask[]): number {
  const memo = new Map<string, number>();
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const d = (id: string): number => {
    if (memo.has(id)) return memo.get(id)!;
    const v = 1 + Math.max(0, ...(byId.get(id)!.deps ?? []).map(d));
    memo.set(id, v);
    return v;
  };
  return Math.max(0, ...tasks.map((t) => d(t.id)));
}
