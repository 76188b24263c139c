/**
 * Word-level text features shared by the hashed embedder and the plan cache's
 * near-miss guard: tokenising, stop words and a light suffix stemmer. Pure.
 */

/** Function words that carry no intent. Negations ("no", "not", "without") are kept on purpose. */
export const STOP_WORDS: ReadonlySet<string> = new Set(
  `a about above after again against all am an and any are as at be because been before being below between both
  but by can could did do does doing down during each few for from further had has have having he her here hers
  herself him himself his how i if in into is it its itself just me more most my myself of off on once only or
  other our ours ourselves out over own same she should so some such than that the their theirs them themselves
  then there these they this those through to too under until up very was we were what when where which while who
  whom why will with would you your yours yourself yourselves also please us let lets per via etc
  it's we're i'd i'm s t`
    .split(/\s+/)
    .filter(Boolean),
);

/** Lowercased words with diacritics folded; digits kept, punctuation dropped. */
export function words(text: string): string[] {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/['’]s\b/g, '')
    // "200,000" is one number, not "200" and "000".
    .replace(/(\d),(?=\d{3}\b)/g, '$1')
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/**
 * A deliberately light stemmer: plural and verb endings only, so "compare",
 * "compared", "comparing" and "compares" meet at "compar". Over-stemming would
 * merge words of different intent, which the plan cache must keep apart.
 */
export function stem(word: string): string {
  let w = word;
  if (w.length <= 3 || /^\d/.test(w)) return w;
  if (/ations?$/.test(w) && w.length > 7) return w.replace(/ations?$/, 'at');
  if (/ators?$/.test(w) && w.length > 6) return w.replace(/ators?$/, 'at');
  if (w.endsWith('ies') && w.length > 4) w = `${w.slice(0, -3)}y`;
  else if (/(ss|sh|ch|x|z)es$/.test(w)) w = w.slice(0, -2);
  else if (w.endsWith('s') && !/(ss|us|is)$/.test(w)) w = w.slice(0, -1);
  if (w.endsWith('ing') && w.length > 5) w = w.slice(0, -3);
  else if (w.endsWith('ed') && w.length > 4) w = w.slice(0, -2);
  else if (w.endsWith('ly') && w.length > 5) w = w.slice(0, -2);
  if (/([^aeioulsz])\1$/.test(w)) w = w.slice(0, -1);
  if (w.endsWith('e') && w.length > 4) w = w.slice(0, -1);
  if (w.endsWith('y') && w.length > 4) w = `${w.slice(0, -1)}i`;
  return w;
}

/** Stemmed content words, in order (stop words removed). */
export function contentTerms(text: string): string[] {
  return words(text)
    .filter((w) => !STOP_WORDS.has(w))
    .map(stem);
}
