/** The label value every value past the cap is folded into. */
export const OTHER = 'other';

/**
 * Keeps a label's value set bounded: the first `max` distinct values pass
 * through, later ones become `other`. Used where a value comes from user
 * configuration (an agent's model name) or from data (an error fingerprint),
 * so that no input can grow a time series per request.
 */
export function boundedLabel(max: number): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    const v = value.slice(0, 100);
    if (seen.has(v)) return v;
    if (seen.size >= max) return OTHER;
    seen.add(v);
    return v;
  };
}
