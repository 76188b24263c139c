import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { AppError } from '../../core/errors.js';
import { defineTool, type HttpFetchPolicy } from '../tool.js';
import { isPublicAddress } from './address-policy.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export interface HttpFetchOptions {
  /** Body bytes kept; the rest is not read. Default 256 KiB. */
  maxBytes?: number;
  /** Whole fetch, redirects included. Default 10 s. */
  timeoutMs?: number;
  /** Default 3. */
  maxRedirects?: number;
  /** Hostname → addresses. Default: node:dns `lookup` (all addresses). */
  resolve?: (hostname: string) => Promise<ResolvedAddress[]>;
  /**
   * Whether an address may be connected to. Default `isPublicAddress`. Only
   * tests replace it, to reach their own server on 127.0.0.1.
   */
  isAddressAllowed?: (address: string) => boolean;
}

/** The policy the engine puts in each ToolContext, from the two config variables. */
export function httpFetchPolicyFromConfig(
  config: Pick<Config, 'HTTP_FETCH_ENABLED' | 'HTTP_FETCH_ALLOWED_HOSTS'>,
): HttpFetchPolicy {
  return {
    enabled: config.HTTP_FETCH_ENABLED,
    allowedHosts: config.HTTP_FETCH_ALLOWED_HOSTS.split(',')
      .map((h) => h.trim().toLowerCase().replace(/\.$/, ''))
      .filter((h) => h !== ''),
  };
}

const refused = (code: string, message: string) => new AppError(code, 'invalid_request', message);

const TEXT_TYPES = /^(text\/[\w.+-]+|application\/(json|xml|javascript|x-javascript|ecmascript|[\w.-]+\+(json|xml)))$/;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** `[::1]` → `::1`, `Example.COM.` → `example.com`. */
const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();

function hostAllowed(host: string, allowed: string[]): boolean {
  return allowed.some((entry) => (entry.startsWith('*.') ? host.endsWith(entry.slice(1)) : host === entry));
}

async function defaultResolve(hostname: string): Promise<ResolvedAddress[]> {
  const all = await dnsLookup(hostname, { all: true, verbatim: true });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
}

interface Hop {
  status: number;
  contentType: string;
  location?: string;
  body: string;
  truncated: boolean;
}

/**
 * Fetches text from an allow-listed public host.
 *
 * Each hop (the first URL and up to `maxRedirects` redirects, followed by
 * hand) is checked in full: scheme, host allowlist, every resolved address.
 * The connection is then pinned to the checked address through `lookup`, so a
 * second DNS answer (rebinding) cannot send it elsewhere; TLS still verifies
 * the certificate against the hostname.
 */
export function httpFetchTool(opts: HttpFetchOptions = {}) {
  const maxBytes = opts.maxBytes ?? 256 * 1024;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const maxRedirects = opts.maxRedirects ?? 3;
  const resolve = opts.resolve ?? defaultResolve;
  const isAddressAllowed = opts.isAddressAllowed ?? isPublicAddress;

  async function checkedAddress(url: URL, policy: HttpFetchPolicy): Promise<ResolvedAddress> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw refused('HTTP_FETCH_BAD_URL', `scheme ${url.protocol} is not allowed; use http or https`);
    }
    if (url.username || url.password) throw refused('HTTP_FETCH_BAD_URL', 'credentials in the URL are not allowed');
    const host = hostOf(url);
    if (!hostAllowed(host, policy.allowedHosts)) {
      throw refused('HTTP_FETCH_HOST_NOT_ALLOWED', `host ${host} is not in the allowed hosts`);
    }
    const family = isIP(host);
    const addresses: ResolvedAddress[] =
      family !== 0 ? [{ address: host, family: family === 6 ? 6 : 4 }] : await resolve(host).catch((err: unknown) => {
        throw new AppError('HTTP_FETCH_DNS_FAILED', 'third_party', `cannot resolve ${host}`, { cause: err });
      });
    if (addresses.length === 0) throw new AppError('HTTP_FETCH_DNS_FAILED', 'third_party', `cannot resolve ${host}`);
    // One bad answer refuses the host: the resolver could hand it out next time.
    const bad = addresses.find((a) => !isAddressAllowed(a.address));
    if (bad) throw refused('HTTP_FETCH_BLOCKED_ADDRESS', `${host} resolves to a non-public address (${bad.address})`);
    return addresses[0]!;
  }

  function fetchOnce(url: URL, pinned: ResolvedAddress, signal: AbortSignal): Promise<Hop> {
    const lookup: LookupFunction = (_hostname, options, callback) => {
      if (options.all) callback(null, [pinned]);
      else callback(null, pinned.address, pinned.family);
    };
    const host = hostOf(url);
    const client = url.protocol === 'https:' ? https : http;
    return new Promise<Hop>((resolveHop, reject) => {
      const req = client.request(
        url,
        {
          method: 'GET',
          agent: false,
          lookup,
          signal,
          ...(url.protocol === 'https:' && isIP(host) === 0 ? { servername: host } : {}),
          headers: {
            accept: 'text/*, application/json, application/xml;q=0.9',
            'accept-encoding': 'identity',
            'user-agent': 'codelab-agent/1',
          },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          const contentType = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
          const location = res.headers.location;
          if (REDIRECTS.has(status) && location) {
            res.destroy();
            resolveHop({ status, contentType, location, body: '', truncated: false });
            return;
          }
          if (!TEXT_TYPES.test(contentType)) {
            res.destroy();
            reject(refused('HTTP_FETCH_NOT_TEXT', `content type '${contentType || 'none'}' is not text`));
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          let truncated = false;
          const finish = () => {
            let body = new TextDecoder('utf-8').decode(Buffer.concat(chunks, size));
            // A cut inside a multi-byte character decodes to U+FFFD; drop it.
            if (truncated && body.endsWith('\uFFFD')) body = body.slice(0, -1);
            resolveHop({ status, contentType, body, truncated });
          };
          res.on('data', (chunk: Buffer) => {
            if (truncated) return;
            const room = maxBytes - size;
            if (chunk.length <= room) {
              chunks.push(chunk);
              size += chunk.length;
              return;
            }
            chunks.push(chunk.subarray(0, room));
            size += room;
            truncated = true;
            res.destroy();
            finish();
          });
          res.on('end', () => {
            if (!truncated) finish();
          });
          res.on('error', reject);
          // A connection cut or an abort mid-body: the promise must still settle.
          res.on('close', () => {
            if (!res.complete && !truncated) reject(new Error('connection closed before the end of the response'));
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  return defineTool({
    name: 'http_fetch',
    description:
      'Fetches a web page or API response (GET, text only, size-limited) from an allow-listed public host. Disabled unless the operator enables it.',
    input: z.strictObject({ url: z.string().min(1).max(2048).describe('absolute http(s) URL') }),
    sideEffect: true,
    timeoutMs: timeoutMs + 1_000,
    async run({ url: raw }, ctx) {
      const policy = ctx.httpFetch;
      if (!policy?.enabled) throw refused('HTTP_FETCH_DISABLED', 'http_fetch is disabled on this deployment');
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw refused('HTTP_FETCH_BAD_URL', 'not an absolute URL');
      }
      const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);
      try {
        for (let redirects = 0; ; redirects++) {
          const pinned = await checkedAddress(url, policy);
          const hop = await fetchOnce(url, pinned, signal);
          if (hop.location === undefined) {
            return { url: url.href, status: hop.status, content_type: hop.contentType, body: hop.body, truncated: hop.truncated };
          }
          if (redirects >= maxRedirects) throw refused('HTTP_FETCH_TOO_MANY_REDIRECTS', `more than ${maxRedirects} redirects`);
          url = new URL(hop.location, url);
        }
      } catch (err) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        if (err instanceof AppError) throw err;
        if (signal.aborted) throw new AppError('HTTP_FETCH_TIMEOUT', 'third_party', `no complete response within ${timeoutMs} ms`);
        throw new AppError('HTTP_FETCH_FAILED', 'third_party', `fetch failed: ${(err as Error).message}`, { cause: err });
      }
    },
  });
}
