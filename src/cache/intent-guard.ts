import { stem, words } from '../vector/text-features.js';

/**
 * A cheap check, after vector similarity, that two requests ask for the same
 * thing. The hashed embedder scores "release notes for 3.2" and "… for 3.3",
 * or "move from REST to gRPC" and "keep REST and drop gRPC", above most true
 * paraphrases; serving the cached plan there is a wrong plan. The guard
 * rejects a pair whose quantities, direction of change or named things differ.
 * bench/plan-cache.ts measures each part (docs/plan-cache.md).
 */

const NUMBER_WORDS: Record<string, string> = {
  zero: '0', one: '1', two: '2', three: '3', four: '4', five: '5', six: '6', seven: '7', eight: '8', nine: '9', ten: '10',
  eleven: '11', twelve: '12', thirteen: '13', fourteen: '14', fifteen: '15', sixteen: '16', seventeen: '17',
  eighteen: '18', nineteen: '19', twenty: '20', thirty: '30', forty: '40', fifty: '50', sixty: '60', seventy: '70',
  eighty: '80', ninety: '90', hundred: '100', thousand: '1000', half: '0.5', single: '1', dozen: '12',
};

/**
 * Verbs whose direction decides the plan: a request that removes, keeps,
 * splits or downloads is not the one that adds, drops, merges or uploads.
 * Generic "make something" verbs (write, create, build, draft…) are absent on
 * purpose: paraphrases swap them freely.
 */
const POLAR_CLASSES: Record<string, string> = Object.fromEntries(
  Object.entries({
    remove: ['remove', 'drop', 'delete', 'disable', 'revoke', 'deprecate', 'uninstall', 'strip', 'eliminate', 'cancel'],
    keep: ['keep', 'retain', 'preserve', 'unchanged'],
    move: ['move', 'migrate', 'convert', 'switch', 'port', 'upgrade'],
    split: ['split', 'separate'],
    merge: ['merge', 'consolidate'],
    upload: ['upload'],
    download: ['download'],
    import: ['import', 'ingest'],
    export: ['export'],
    archive: ['archive'],
    restore: ['restore', 'rollback', 'revert'],
    grant: ['grant'],
    reject: ['reject', 'rejection', 'decline'],
    deploy: ['deploy', 'release', 'ship', 'launch'],
    increase: ['increase', 'raise', 'grow'],
    reduce: ['reduce', 'decrease', 'cut', 'lower', 'shrink'],
  }).flatMap(([cls, verbs]) => verbs.map((v) => [stem(v), cls])),
);

/** Quantities and versions, with number words folded to digits. */
export function numbersOf(text: string): Set<string> {
  const out = new Set<string>();
  for (const w of words(text)) {
    if (/^\d+$/.test(w)) out.add(String(Number(w)));
    else if (NUMBER_WORDS[w]) out.add(NUMBER_WORDS[w]!);
  }
  return out;
}

export function polarityOf(text: string): Set<string> {
  const out = new Set<string>();
  for (const w of words(text)) {
    const cls = POLAR_CLASSES[stem(w)];
    if (cls) out.add(cls);
  }
  return out;
}

/** Capitalised words not at the start of a sentence, and acronyms: languages, products, regions. */
export function namesOf(text: string): Set<string> {
  const out = new Set<string>();
  for (const sentence of text.split(/[.!?:;]\s+/)) {
    const tokens = sentence.split(/[^A-Za-z0-9À-ɏ]+/).filter(Boolean);
    tokens.forEach((t, i) => {
      if ((i > 0 && /^[A-ZÀ-Ý]/.test(t)) || /^[A-Z0-9]{2,}$/.test(t)) {
        if (!/^\d+$/.test(t)) out.add(stem(t.toLowerCase()));
      }
    });
  }
  return out;
}

const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x));

export interface IntentGuardOptions {
  numbers?: boolean;
  polarity?: boolean;
  names?: boolean;
}

export type IntentGuard = (cachedRequest: string, newRequest: string) => boolean;

/** Builds the guard; every part is on by default (the measured best, see docs/plan-cache.md). */
export function createIntentGuard(opts: IntentGuardOptions = {}): IntentGuard {
  const { numbers = true, polarity = true, names = true } = opts;
  return (a, b) =>
    (!numbers || sameSet(numbersOf(a), numbersOf(b))) &&
    (!polarity || sameSet(polarityOf(a), polarityOf(b))) &&
    (!names || sameSet(namesOf(a), namesOf(b)));
}
