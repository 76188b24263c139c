import { createHash } from 'node:crypto';

const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;
const LONG_HEX = /\b(?:0x)?[0-9a-f]{8,}\b/gi;
const NUMBER = /\d+(?:\.\d+)?/g;

/** A message with what varies between occurrences (ids, numbers) replaced by placeholders. */
export function normalizeMessage(message: string): string {
  return message.replace(UUID, '<uuid>').replace(LONG_HEX, '<hex>').replace(NUMBER, '<n>').slice(0, 500);
}

/**
 * The first `at …` line of a stack, without line and column (they move with
 * every edit of the file) and without the checkout's absolute path (it differs
 * between machines).
 */
export function topFrame(stack: string | undefined, cwd = process.cwd()): string {
  const line = stack?.split('\n').find((l) => /^\s*at /.test(l));
  if (!line) return '';
  return line
    .trim()
    .replace(/:\d+:\d+(\)?)$/, '$1')
    .replace(/:\d+(\)?)$/, '$1')
    .replaceAll(`file://${cwd}/`, '')
    .replaceAll(`${cwd}/`, '');
}

/**
 * A stable id for "the same error": error name, normalized message and top
 * stack frame, hashed. The same bug with another plan id or count gets the
 * same fingerprint; a different throw site gets another.
 */
export function fingerprintError(err: unknown): string {
  const e = err instanceof Error ? err : new Error(String(err));
  const basis = `${e.name}\n${normalizeMessage(e.message)}\n${topFrame(e.stack)}`;
  return createHash('sha256').update(basis).digest('hex').slice(0, 16);
}
