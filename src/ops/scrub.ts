/**
 * Removes credentials that error messages and stacks sometimes carry (a URL
 * with a token, an echoed header) before they are stored or reported.
 */
export function scrubSecrets(text: string): string {
  return text
    .replace(/([?&](?:access_token|token|api_key|apikey|key)=)[^&#\s]*/gi, '$1[redacted]')
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, '$1 [redacted]')
    .replace(/\b(sk-[A-Za-z0-9_-]{8,})/g, '[redacted]')
    .replace(/(\/\/[^/\s:@]+:)[^@\s/]+@/g, '$1[redacted]@');
}
