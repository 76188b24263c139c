import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the external Qdrant service: the part of its REST API that
 * @qdrant/js-client-rest uses for collections, payload indexes, upsert, query,
 * search and delete-by-filter, over an in-memory map. Anything it does not
 * understand is answered 400, so a client request outside that part fails a
 * test instead of passing silently.
 */
export interface FakeQdrant {
  url: string;
  /** Every request received, in order (method, path, parsed body). */
  requests: Array<{ method: string; path: string; body: unknown }>;
  collections: Map<string, FakeCollection>;
  close(): Promise<void>;
}

interface FakeCollection {
  size: number;
  distance: string;
  indexes: Record<string, string>;
  points: Map<string, { id: string | number; vector: number[]; payload: Record<string, unknown> }>;
}

type Condition = { key?: string; match?: { value?: unknown; any?: unknown[] } } & Partial<Filter>;
interface Filter {
  must?: Condition[];
  should?: Condition[];
  must_not?: Condition[];
}

class BadRequest extends Error {}

function matches(payload: Record<string, unknown>, filter: Filter | undefined): boolean {
  if (!filter) return true;
  const test = (c: Condition): boolean => {
    if (c.must || c.should || c.must_not) return matches(payload, c);
    if (!c.key || !c.match) throw new BadRequest(`unsupported condition ${JSON.stringify(c)}`);
    const v = payload[c.key];
    if ('value' in c.match) return v === c.match.value;
    if (Array.isArray(c.match.any)) return c.match.any.includes(v);
    throw new BadRequest(`unsupported match ${JSON.stringify(c.match)}`);
  };
  if (filter.must && !filter.must.every(test)) return false;
  if (filter.should && filter.should.length > 0 && !filter.should.some(test)) return false;
  if (filter.must_not && filter.must_not.some(test)) return false;
  return true;
}

function unit(v: number[]): number[] {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return n === 0 ? v : v.map((x) => x / n);
}

export async function startFakeQdrant(): Promise<FakeQdrant> {
  const collections = new Map<string, FakeCollection>();
  const requests: FakeQdrant['requests'] = [];

  const ok = (res: ServerResponse, result: unknown) => send(res, 200, { result, status: 'ok', time: 0.0001 });
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const need = (name: string) => {
    const c = collections.get(name);
    if (!c) throw Object.assign(new Error(`Not found: Collection \`${name}\` doesn't exist!`), { status: 404 });
    return c;
  };

  const search = (c: FakeCollection, body: { query?: unknown; vector?: unknown; filter?: Filter; limit?: number; score_threshold?: number; with_payload?: boolean }) => {
    const q = body.query ?? body.vector;
    if (!Array.isArray(q) || q.length !== c.size) throw new BadRequest(`query vector must have ${c.size} numbers`);
    const query = unit(q as number[]);
    return [...c.points.values()]
      .filter((p) => matches(p.payload, body.filter))
      .map((p) => ({ id: p.id, version: 0, score: p.vector.reduce((s, x, i) => s + x * query[i]!, 0), payload: body.with_payload ? p.payload : undefined }))
      .filter((p) => body.score_threshold === undefined || p.score >= body.score_threshold)
      .sort((a, b) => b.score - a.score)
      .slice(0, body.limit ?? 10);
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://fake');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const body = raw ? JSON.parse(raw) : undefined;
    const method = req.method ?? 'GET';
    const path = url.pathname;
    requests.push({ method, path, body });
    const m = path.match(/^\/collections\/([^/]+)(\/.*)?$/);
    if (method === 'GET' && path === '/') return send(res, 200, { title: 'qdrant - vector search engine (fake)', version: '1.18.0' });
    if (!m) throw new BadRequest(`unsupported path ${method} ${path}`);
    const name = decodeURIComponent(m[1]!);
    const rest = m[2] ?? '';
    switch (`${method} ${rest}`) {
      case 'GET /exists':
        return ok(res, { exists: collections.has(name) });
      case 'GET ': {
        const c = need(name);
        return ok(res, {
          status: 'green',
          points_count: c.points.size,
          config: { params: { vectors: { size: c.size, distance: c.distance } } },
          payload_schema: Object.fromEntries(Object.entries(c.indexes).map(([k, t]) => [k, { data_type: t, points: c.points.size }])),
        });
      }
      case 'PUT ': {
        if (collections.has(name)) throw new BadRequest(`Wrong input: Collection \`${name}\` already exists!`);
        const v = body?.vectors;
        if (!v || typeof v.size !== 'number' || !['Cosine', 'Dot', 'Euclid', 'Manhattan'].includes(v.distance)) throw new BadRequest('vectors {size, distance} required');
        collections.set(name, { size: v.size, distance: v.distance, indexes: {}, points: new Map() });
        return ok(res, true);
      }
      case 'PUT /index': {
        const c = need(name);
        if (typeof body?.field_name !== 'string') throw new BadRequest('field_name required');
        c.indexes[body.field_name] = typeof body.field_schema === 'string' ? body.field_schema : body.field_schema?.type;
        return ok(res, { operation_id: requests.length, status: 'completed' });
      }
      case 'PUT /points': {
        const c = need(name);
        if (!Array.isArray(body?.points)) throw new BadRequest('points required');
        for (const p of body.points as Array<{ id: string | number; vector: number[]; payload?: Record<string, unknown> }>) {
          if (!Array.isArray(p.vector) || p.vector.length !== c.size) throw new BadRequest(`Wrong input: Vector dimension error: expected dim: ${c.size}`);
          if (typeof p.id !== 'number' && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(String(p.id))) {
            throw new BadRequest(`Unable to parse UUID: ${p.id}`);
          }
          c.points.set(String(p.id), { id: p.id, vector: c.distance === 'Cosine' ? unit(p.vector) : p.vector, payload: p.payload ?? {} });
        }
        return ok(res, { operation_id: requests.length, status: 'completed' });
      }
      case 'POST /points/query':
        return ok(res, { points: search(need(name), body ?? {}) });
      case 'POST /points/search':
        return ok(res, search(need(name), body ?? {}));
      case 'POST /points/delete': {
        const c = need(name);
        if (body?.filter) {
          for (const [id, p] of c.points) if (matches(p.payload, body.filter)) c.points.delete(id);
        } else if (Array.isArray(body?.points)) {
          for (const id of body.points) c.points.delete(String(id));
        } else throw new BadRequest('filter or points required');
        return ok(res, { operation_id: requests.length, status: 'completed' });
      }
      default:
        throw new BadRequest(`unsupported endpoint ${method} ${path}`);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error & { status?: number }) => {
      const status = err.status ?? (err instanceof BadRequest || err instanceof SyntaxError ? 400 : 500);
      send(res, status, { status: { error: err.message }, time: 0 });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    collections,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      })),
  };
}
