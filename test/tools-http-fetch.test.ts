import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, testEnv, type TestContext } from './helpers/context.js';
import { seedProject, toolContext } from './tools-fixtures.js';
import { loadConfig } from '../src/config.js';
import { isPublicAddress } from '../src/tools/builtin/address-policy.js';
import { httpFetchPolicyFromConfig, type HttpFetchOptions } from '../src/tools/builtin/http-fetch.js';
import { createToolRegistry, defaultTools, type ToolResult } from '../src/tools/registry.js';
import type { HttpFetchPolicy, ToolContext } from '../src/tools/tool.js';

let t: TestContext;
let ctx: ToolContext;
let server: http.Server;
let port: number;
const hits: string[] = [];

beforeAll(async () => {
  t = await createTestContext('tools_http_fetch');
  ctx = toolContext(t.deps.db, await seedProject(t.deps.db));
  server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/text') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('héllo from the test server');
    } else if (url.pathname === '/json') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"nope"}');
    } else if (url.pathname === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = 'x'.repeat(64 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent < 64 && res.write(chunk)) sent++;
        if (sent < 64) res.once('drain', pump);
        else res.end();
      };
      pump();
    } else if (url.pathname === '/binary') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from([0, 1, 2]));
    } else if (url.pathname === '/hang') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
    } else if (url.pathname === '/redirect') {
      res.writeHead(302, { location: url.searchParams.get('to') ?? '/text' }).end();
    } else if (url.pathname === '/loop') {
      res.writeHead(301, { location: `/loop?n=${Number(url.searchParams.get('n') ?? 0) + 1}` }).end();
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await t.cleanup();
});

const enabled = (allowedHosts: string[]): HttpFetchPolicy => ({ enabled: true, allowedHosts });

async function fetchWith(url: string, policy: HttpFetchPolicy | undefined, opts?: HttpFetchOptions): Promise<ToolResult> {
  const registry = createToolRegistry(defaultTools({ httpFetch: opts }));
  return registry.call('http_fetch', { url }, { ...ctx, ...(policy ? { httpFetch: policy } : {}) }, ['http_fetch']);
}

/** The test server's only route in: a name that resolves to it, and an exception for that one address. */
const local: HttpFetchOptions = {
  resolve: async (host) => (host === 'allowed.test' || host.endsWith('.allowed.test') ? [{ address: '127.0.0.1', family: 4 }] : []),
  isAddressAllowed: (address) => address === '127.0.0.1',
};

const code = (r: ToolResult) => (r.ok ? 'ok' : r.error.code);

describe('http_fetch policy', () => {
  it('is refused when the operator has not enabled it', async () => {
    const before = hits.length;
    expect(code(await fetchWith(`http://allowed.test:${port}/text`, undefined, local))).toBe('HTTP_FETCH_DISABLED');
    expect(code(await fetchWith(`http://allowed.test:${port}/text`, { enabled: false, allowedHosts: ['allowed.test'] }, local))).toBe(
      'HTTP_FETCH_DISABLED',
    );
    expect(hits.length).toBe(before);
  });

  it('is read from HTTP_FETCH_ENABLED (default off) and HTTP_FETCH_ALLOWED_HOSTS', () => {
    expect(httpFetchPolicyFromConfig(loadConfig(testEnv('cfg')))).toEqual({ enabled: false, allowedHosts: [] });
    const config = loadConfig(testEnv('cfg', { HTTP_FETCH_ENABLED: 'true', HTTP_FETCH_ALLOWED_HOSTS: ' Docs.Example.com., *.b.org ,' }));
    expect(httpFetchPolicyFromConfig(config)).toEqual({ enabled: true, allowedHosts: ['docs.example.com', '*.b.org'] });
  });

  it('refuses a host that is not in the allowlist', async () => {
    const result = await fetchWith('https://example.com/', enabled(['example.org', '*.example.net']));
    expect(result).toMatchObject({ ok: false, error: { code: 'HTTP_FETCH_HOST_NOT_ALLOWED' } });
  });

  it.each([
    'http://127.0.0.1/',
    'http://127.1.2.3:8080/',
    'http://localhost/',
    'http://10.0.0.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:a9fe:a9fe]/',
    'http://0.0.0.0/',
    'http://[fd00::1]/',
  ])('refuses %s even when its host is allowed', async (url) => {
    const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
    const result = await fetchWith(url, enabled([host]));
    expect(result).toMatchObject({ ok: false, error: { code: 'HTTP_FETCH_BLOCKED_ADDRESS' } });
  });

  it('refuses a name when any of its addresses is private', async () => {
    const result = await fetchWith('http://mixed.example/', enabled(['mixed.example']), {
      resolve: async () => [
        { address: '93.184.216.34', family: 4 },
        { address: '10.1.2.3', family: 4 },
      ],
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'HTTP_FETCH_BLOCKED_ADDRESS', message: expect.stringContaining('10.1.2.3') } });
  });

  it.each(['file:///etc/passwd', 'ftp://allowed.test/x', 'http://user:pw@allowed.test/', 'not a url'])('refuses %s', async (url) => {
    expect(code(await fetchWith(url, enabled(['allowed.test']), local))).toBe('HTTP_FETCH_BAD_URL');
  });
});

describe('the address rule', () => {
  it.each(['8.8.8.8', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('accepts public %s', (a) => {
    expect(isPublicAddress(a)).toBe(true);
  });

  it.each([
    '127.0.0.1', '127.255.255.254', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254',
    '100.64.0.1', '100.127.255.255', '0.0.0.0', '0.1.2.3', '224.0.0.1', '255.255.255.255', '::', '::1',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', 'fc00::1', 'fd12:3456::1',
    'fe80::1', 'febf::1', 'ff02::1', '64:ff9b::a00:1', '2002:a00:1::1', 'not-an-ip',
  ])('refuses %s', (a) => {
    expect(isPublicAddress(a)).toBe(false);
  });

  it('keeps neighbours of the private ranges public', () => {
    expect(['172.15.255.255', '172.32.0.0', '100.63.255.255', '100.128.0.0', '11.0.0.0', '169.253.255.255'].every(isPublicAddress)).toBe(true);
  });
});

describe('http_fetch to an allowed host', () => {
  it('returns the text, pinned to the address that was checked', async () => {
    // allowed.test exists only in the injected resolver: the connection went to the checked address.
    const result = await fetchWith(`http://allowed.test:${port}/text`, enabled(['allowed.test']), local);
    expect(result).toEqual({
      ok: true,
      output: {
        url: `http://allowed.test:${port}/text`,
        status: 200,
        content_type: 'text/plain',
        body: 'héllo from the test server',
        truncated: false,
      },
    });
  });

  it('matches a wildcard entry and returns error statuses as results', async () => {
    const result = await fetchWith(`http://api.allowed.test:${port}/json`, enabled(['*.allowed.test']), local);
    expect(result).toMatchObject({ ok: true, output: { status: 404, content_type: 'application/json', body: '{"error":"nope"}' } });
  });

  it('cuts a large response at the size limit', async () => {
    const result = await fetchWith(`http://allowed.test:${port}/big`, enabled(['allowed.test']), local);
    expect(result.ok).toBe(true);
    const output = (result as { output: { body: string; truncated: boolean } }).output;
    expect(output.truncated).toBe(true);
    expect(output.body.length).toBe(256 * 1024);
    const small = await fetchWith(`http://allowed.test:${port}/big`, enabled(['allowed.test']), { ...local, maxBytes: 1000 });
    expect((small as { output: { body: string } }).output.body).toBe('x'.repeat(1000));
  });

  it('refuses content that is not text', async () => {
    expect(code(await fetchWith(`http://allowed.test:${port}/binary`, enabled(['allowed.test']), local))).toBe('HTTP_FETCH_NOT_TEXT');
  });

  it('gives up after its time limit', async () => {
    const started = Date.now();
    const result = await fetchWith(`http://allowed.test:${port}/hang`, enabled(['allowed.test']), { ...local, timeoutMs: 200 });
    expect(code(result)).toBe('HTTP_FETCH_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('follows redirects, checking each hop', async () => {
    const result = await fetchWith(`http://allowed.test:${port}/redirect?to=/redirect%3Fto%3D/text`, enabled(['allowed.test']), local);
    expect(result).toMatchObject({ ok: true, output: { url: `http://allowed.test:${port}/text`, body: 'héllo from the test server' } });
  });

  it('stops after three redirects', async () => {
    const before = hits.length;
    const result = await fetchWith(`http://allowed.test:${port}/loop`, enabled(['allowed.test']), local);
    expect(result).toMatchObject({ ok: false, error: { code: 'HTTP_FETCH_TOO_MANY_REDIRECTS' } });
    expect(hits.slice(before)).toEqual(['/loop', '/loop?n=1', '/loop?n=2', '/loop?n=3']);
  });

  it('refuses a redirect to a host outside the allowlist or to a private address', async () => {
    const to = (target: string) => `http://allowed.test:${port}/redirect?to=${encodeURIComponent(target)}`;
    const policy = enabled(['allowed.test', '169.254.169.254']);
    expect(code(await fetchWith(to(`http://127.0.0.1:${port}/text`), policy, local))).toBe('HTTP_FETCH_HOST_NOT_ALLOWED');
    expect(code(await fetchWith(to('http://169.254.169.254/latest/meta-data/'), policy, local))).toBe('HTTP_FETCH_BLOCKED_ADDRESS');
    expect(code(await fetchWith(to('file:///etc/passwd'), policy, local))).toBe('HTTP_FETCH_BAD_URL');
  });
});
