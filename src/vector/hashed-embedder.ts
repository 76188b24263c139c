import type { EmbedResult, Embedder } from '../core/embedding.js';
import { contentTerms } from './text-features.js';

export interface HashedEmbedderOptions {
  /** Vector length; 512 keeps collisions rare for request-sized texts. */
  dimensions?: number;
  /** Character n-gram sizes, inclusive. */
  charNgrams?: [number, number];
  /** Relative weight of each feature family before the final normalisation. */
  weights?: { unigram: number; bigram: number; char: number };
}

const DEFAULTS = {
  dimensions: 512,
  charNgrams: [3, 5] as [number, number],
  // Words carry intent; bigrams keep word order ("drop the queue" vs "use a queue");
  // character n-grams let "translations"/"translate" and typos meet.
  weights: { unigram: 1, bigram: 0.6, char: 0.8 },
};

/** FNV-1a, 32-bit, with a per-family seed so families do not collide systematically. */
function fnv1a(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // Final avalanche (murmur3 fmix) so low bits are usable as an index.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

function addFamily(out: Float64Array, features: Map<string, number>, seed: number, weight: number): void {
  if (features.size === 0 || weight === 0) return;
  const dims = out.length;
  const part = new Float64Array(dims);
  for (const [f, tf] of features) {
    const h = fnv1a(f, seed);
    const sign = h & 0x80000000 ? -1 : 1;
    // Sublinear tf: a repeated word counts, but not linearly.
    part[h % dims]! += sign * (1 + Math.log(tf));
  }
  let norm = 0;
  for (const x of part) norm += x * x;
  if (norm === 0) return;
  const k = weight / Math.sqrt(norm);
  for (let i = 0; i < dims; i++) out[i]! += part[i]! * k;
}

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/**
 * The offline embedder: no model download, deterministic, labelled
 * `local-hashed`. Hashed word unigrams and bigrams of stemmed content words plus
 * character n-grams, each family normalised then weighted, signed hashing into
 * a fixed-size vector, L2-normalised.
 */
export function createHashedEmbedder(opts: HashedEmbedderOptions = {}): Embedder {
  const dimensions = opts.dimensions ?? DEFAULTS.dimensions;
  const [minN, maxN] = opts.charNgrams ?? DEFAULTS.charNgrams;
  const weights = opts.weights ?? DEFAULTS.weights;
  if (!Number.isInteger(dimensions) || dimensions < 8) throw new Error('hashed embedder: dimensions must be an integer >= 8');
  if (minN < 1 || maxN < minN) throw new Error('hashed embedder: bad charNgrams range');

  const embedOne = (text: string): number[] => {
    const terms = contentTerms(text);
    const uni = new Map<string, number>();
    const bi = new Map<string, number>();
    const chars = new Map<string, number>();
    for (let i = 0; i < terms.length; i++) {
      const t = terms[i]!;
      count(uni, t);
      if (i + 1 < terms.length) count(bi, `${t} ${terms[i + 1]}`);
      const padded = `<${t}>`;
      for (let n = minN; n <= maxN; n++) {
        for (let j = 0; j + n <= padded.length; j++) count(chars, padded.slice(j, j + n));
      }
    }
    const v = new Float64Array(dimensions);
    addFamily(v, uni, 1, weights.unigram);
    addFamily(v, bi, 2, weights.bigram);
    addFamily(v, chars, 3, weights.char);
    let norm = 0;
    for (const x of v) norm += x * x;
    const inv = norm === 0 ? 0 : 1 / Math.sqrt(norm);
    return Array.from(v, (x) => x * inv);
  };

  return {
    dimensions,
    model: `hashed-v1-${dimensions}`,
    provider: 'local-hashed',
    async embed(texts: string[]): Promise<EmbedResult> {
      const vectors = texts.map(embedOne);
      // Nothing is billed; "tokens" approximates what an API would count (~4 chars each).
      const tokens = texts.reduce((s, t) => s + Math.ceil(t.length / 4), 0);
      return { vectors, tokens };
    },
  };
}
