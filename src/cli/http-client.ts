/** The codelab HTTP API as the terminal client uses it: bearer token, JSON in and out, the contract's errors. */

export class ApiRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiRequestError';
  }
}

export interface HttpClient {
  readonly baseUrl: string;
  readonly token: string;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
}

export function createHttpClient(baseUrl: string, token: string): HttpClient {
  const root = baseUrl.replace(/\/+$/, '');
  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${root}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new ApiRequestError(0, 'unreachable', `cannot reach ${root}: ${(err as Error).cause ?? (err as Error).message}`);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
      throw new ApiRequestError(res.status, e?.code ?? `http_${res.status}`, e?.message ?? (text.trim() || res.statusText), e?.details);
    }
    return json as T;
  }
  return {
    baseUrl: root,
    token,
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body),
  };
}

/** One line for a failed request: status, message and the fields the API named. */
export function describeApiError(err: ApiRequestError): string {
  const fields = Array.isArray(err.details)
    ? (err.details as Array<{ field?: string; message?: string }>).filter((d) => d?.field).map((d) => `${d.field}: ${d.message}`)
    : [];
  return `${err.status ? `${err.status} ${err.code}: ` : ''}${err.message}${fields.length ? ` (${fields.join('; ')})` : ''}`;
}
