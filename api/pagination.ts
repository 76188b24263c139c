import { sql, type RawBuilder } from 'kysely';
import { z } from '@hono/zod-openapi';
import { validationError } from './errors.js';

/**
 * Keyset pagination on (created_at, id). The cursor keeps created_at at
 * PostgreSQL's microsecond precision: a JS Date would cut it to
 * milliseconds and the next page would repeat rows.
 */
export const pageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ description: 'Page size, 1–100 (default 20).' }),
  cursor: z.string().max(200).optional().openapi({ description: 'Opaque `next_cursor` of the previous page.' }),
});

export interface Cursor {
  at: string;
  id: string;
}

const cursorShape = z.tuple([z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/), z.uuid()]);

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.at, c.id])).toString('base64url');
}

/** A cursor the client altered is its mistake: 400 naming `cursor`. */
export function decodeCursor(raw: string | undefined): Cursor | undefined {
  if (raw === undefined || raw === '') return undefined;
  try {
    const [at, id] = cursorShape.parse(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')));
    return { at, id };
  } catch {
    throw validationError([{ field: 'cursor', in: 'query', message: 'not a cursor returned by this API' }]);
  }
}

/** created_at as the cursor stores it (UTC, microseconds). */
export const cursorAt = (column = 'created_at'): RawBuilder<string> =>
  sql<string>`to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** The keyset condition; `before` for newest-first lists, `after` for oldest-first ones. */
export function afterCursor(cursor: Cursor, direction: 'before' | 'after'): RawBuilder<boolean> {
  const op = sql.raw(direction === 'before' ? '<' : '>');
  return sql<boolean>`(created_at, id) ${op} (${cursor.at}::timestamptz, ${cursor.id}::uuid)`;
}

/** Cuts the `limit + 1` rows a query fetched into a page and its next cursor. */
export function toPage<Row extends { id: string; cursor_at: string }, Item>(
  rows: Row[],
  limit: number,
  toItem: (row: Row) => Item,
): { items: Item[]; next_cursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: page.map(toItem),
    next_cursor: rows.length > limit && last ? encodeCursor({ at: last.cursor_at, id: last.id }) : null,
  };
}

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), next_cursor: z.string().nullable() });
