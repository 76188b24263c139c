/** The HTTP API, with the signed-in user's token. */

export interface FieldProblem {
  field: string;
  in?: string;
  message: string;
}

/** A non-2xx answer: the contract's `{"error": {code, message, details}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** `details` as field problems, when it is a list of them (400 and some 409). */
  get fields(): FieldProblem[] {
    return Array.isArray(this.details)
      ? this.details.filter((d): d is FieldProblem => typeof d === 'object' && d !== null && typeof (d as FieldProblem).field === 'string')
      : [];
  }
}

export interface Api {
  token: string;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  patch<T>(path: string, body: unknown): Promise<T>;
}

/** `onUnauthorized` runs on any 401 (expired or revoked token): the app signs out. */
export function createApi(token: string, onUnauthorized: () => void): Api {
  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    const json: unknown = text ? safeJson(text) : null;
    if (!res.ok) {
      if (res.status === 401) onUnauthorized();
      const err = (json as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
      throw new ApiError(res.status, err?.code ?? `http_${res.status}`, err?.message ?? (text || res.statusText), err?.details);
    }
    return json as T;
  }
  return {
    token,
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body),
    patch: (path, body) => request('PATCH', path, body),
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Money as the UI shows it: small amounts keep their precision. */
export function usd(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  if (n === 0) return '$0';
  return n < 0.01 ? `$${n.toFixed(5)}` : `$${n.toFixed(n < 1 ? 4 : 2)}`;
}

export function seconds(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  return n < 60 ? `${n.toFixed(n < 10 ? 1 : 0)} s` : `${Math.floor(n / 60)} min ${Math.round(n % 60)} s`;
}

/** Every item of a paginated list (follows `next_cursor`, 100 a page, at most `maxPages` pages). */
export async function getAll<T>(api: Api, path: string, maxPages = 20): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null | undefined;
  for (let page = 0; page < maxPages; page++) {
    const sep = path.includes('?') ? '&' : '?';
    const res = await api.get<{ items: T[]; next_cursor?: string | null }>(
      `${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    items.push(...res.items);
    cursor = res.next_cursor;
    if (!cursor) break;
  }
  return items;
}

/** An error as one line for the page: the API's message and the fields it names. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    const fields = err.fields.map((f) => `${f.field}: ${f.message}`).join('; ');
    return fields ? `${err.message} (${fields})` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
