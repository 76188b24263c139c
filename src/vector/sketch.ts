/**
 * A 256-bit sign sketch (SimHash) of a vector: the signs of a structured random
 * rotation (three rounds of random ±1 flips followed by a Walsh–Hadamard
 * transform). The Hamming distance of two sketches estimates the angle between
 * the vectors (cos(pi * h / 256)), at O(d log d) per vector instead of the
 * O(d * 256) of explicit random hyperplanes.
 *
 * The seed is fixed: stored sketches depend on it, so changing it (or the
 * rounds) requires recomputing every stored sketch.
 */
export const SKETCH_BITS = 256;
const ROUNDS = 3;
const SEED = 0x5eed_c0de;

const signCache = new Map<number, Int8Array[]>();

/** mulberry32: small deterministic PRNG, enough to draw signs. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function signsFor(size: number): Int8Array[] {
  let s = signCache.get(size);
  if (!s) {
    const rnd = prng(SEED ^ size);
    s = Array.from({ length: ROUNDS }, () => Int8Array.from({ length: size }, () => (rnd() < 0.5 ? -1 : 1)));
    signCache.set(size, s);
  }
  return s;
}

function fwht(a: Float64Array): void {
  for (let h = 1; h < a.length; h <<= 1) {
    for (let i = 0; i < a.length; i += h << 1) {
      for (let j = i; j < i + h; j++) {
        const x = a[j]!;
        const y = a[j + h]!;
        a[j] = x + y;
        a[j + h] = x - y;
      }
    }
  }
}

/** The sketch as a string of '0'/'1', the text form PostgreSQL's bit(256) accepts. */
export function sketchBits(vector: readonly number[]): string {
  let size = SKETCH_BITS;
  while (size < vector.length) size <<= 1;
  const a = new Float64Array(size);
  for (let i = 0; i < vector.length; i++) a[i] = vector[i]!;
  for (const signs of signsFor(size)) {
    for (let i = 0; i < size; i++) a[i]! *= signs[i]!;
    fwht(a);
  }
  // Take bits spread over the whole rotated vector, not just its head.
  const stride = size / SKETCH_BITS;
  let out = '';
  for (let i = 0; i < SKETCH_BITS; i++) out += a[i * stride]! >= 0 ? '1' : '0';
  return out;
}
