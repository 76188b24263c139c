/**
 * The embedding port of the domain. Adapters live in `src/vector/`
 * (`hashed-embedder.ts`, `openai-embedder.ts`); nothing here does I/O.
 */

/** Who an embedding call is for; a paid embedder records it in `llm_calls`. */
export interface EmbedMeta {
  userId?: string;
  projectId?: string;
  planId?: string;
}

export interface EmbedResult {
  /** One L2-normalised vector per input text, in input order. */
  vectors: number[][];
  /** Tokens billed (or, for a local embedder, counted) for the call. */
  tokens: number;
}

export interface Embedder {
  /** Length of every vector this embedder returns. */
  readonly dimensions: number;
  readonly model: string;
  /** `local-hashed` for the offline embedder, `openai` for the API. */
  readonly provider: string;
  embed(texts: string[], meta?: EmbedMeta): Promise<EmbedResult>;
}

/** Cosine similarity of two vectors (dot product when both are normalised). */
export function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** Scales a vector to unit length in place; a zero vector stays zero. */
export function normalize(v: number[]): number[] {
  let s = 0;
  for (const x of v) s += x * x;
  if (s === 0) return v;
  const inv = 1 / Math.sqrt(s);
  for (let i = 0; i < v.length; i++) v[i]! *= inv;
  return v;
}
