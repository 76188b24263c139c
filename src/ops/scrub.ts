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

/**
 * Scrubs an error's message and stack in place (and its causes'), before it
 * is logged: an error built from a request URL would otherwise carry an SSE
 * client's `?access_token=` into the log.
 */
export function scrubError(err: unknown, depth = 0): void {
  if (!(err instanceof Error) || depth > 3) return;
  try {
    err.message = scrubSecrets(err.message);
    if (err.stack) err.stack = scrubSecrets(err.stack);
  } catch {
    // A frozen error stays as it is.
  }
  scrubError(err.cause, depth + 1);
}
