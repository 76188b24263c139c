import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../src/metrics/metrics.js';
import { ALL_QUEUES } from '../src/queues/catalog.js';

// Docker cannot run here: these tests check the deployment files against the code they start.

interface Service {
  image?: string;
  restart?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test?: string[] };
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  volumes?: string[];
  ports?: string[];
}

const read = (path: string) => readFileSync(path, 'utf8');
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;
const APP_SERVICES = ['api', 'planner', 'agents'];
const LONG_RUNNING = ['postgres', 'redis', 'qdrant', 'api', 'planner', 'agents', 'prometheus', 'grafana'];
const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; dependencies: Record<string, string> };

/** `node --import tsx FILE args…` → FILE and its args. */
function nodeCommand(cmd: string[] | undefined): { file: string; args: string[] } {
  expect(cmd?.slice(0, 3)).toEqual(['node', '--import', 'tsx']);
  return { file: cmd![3]!, args: cmd!.slice(4) };
}

describe('docker-compose.yml', () => {
  it('has every service of the design', () => {
    expect(Object.keys(services).sort()).toEqual([...LONG_RUNNING, 'migrate'].sort());
  });

  it('gives every long-running service a health check, and the one-shot migrate none and no restart', () => {
    for (const name of LONG_RUNNING) {
      const test = services[name]!.healthcheck?.test;
      expect(test, name).toBeDefined();
      expect(['CMD', 'CMD-SHELL']).toContain(test![0]);
      expect(test!.length, name).toBeGreaterThan(1);
    }
    expect(services.migrate!.restart).toBe('no');
    expect(services.migrate!.healthcheck).toBeUndefined();
  });

  it('starts app services only after migrations completed and their dependencies are healthy', () => {
    expect(services.migrate!.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    for (const name of APP_SERVICES) {
      const deps = services[name]!.depends_on!;
      expect(deps.migrate, name).toEqual({ condition: 'service_completed_successfully' });
      for (const d of ['postgres', 'redis', 'qdrant']) expect(deps[d], `${name} → ${d}`).toEqual({ condition: 'service_healthy' });
    }
    // Every service_healthy dependency has a health check to wait for.
    for (const [name, svc] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(svc.depends_on ?? {})) {
        expect(services[dep], `${name} depends on unknown ${dep}`).toBeDefined();
        if (condition === 'service_healthy') expect(services[dep]!.healthcheck, `${dep} (needed by ${name})`).toBeDefined();
      }
    }
  });

  it('runs entry points that exist, and every queue of the catalog is consumed by some worker service', () => {
    expect(existsSync(nodeCommand(services.migrate!.command).file)).toBe(true);
    const consumed = new Set<string>();
    for (const name of APP_SERVICES) {
      const { file, args } = nodeCommand(services[name]!.command);
      expect(file).toBe('bin/start.ts');
      expect(existsSync(file)).toBe(true);
      if (name === 'api') {
        expect(args).toEqual(['--api']);
        continue;
      }
      expect(args[0]).toBe('--workers');
      const queues = args[args.indexOf('--queues') + 1]!.split(',');
      for (const q of queues) {
        expect(ALL_QUEUES, `${name} consumes unknown queue ${q}`).toContain(q);
        consumed.add(q);
      }
    }
    expect([...consumed].sort()).toEqual([...ALL_QUEUES].sort());
  });

  it('scales agent workers with replicas and publishes no host port for them', () => {
    expect(services.agents!.deploy?.replicas).toBeGreaterThanOrEqual(2);
    expect(services.agents!.ports).toBeUndefined();
  });

  it('persists Redis with AOF and keeps BullMQ keys from eviction', () => {
    const cmd = services.redis!.command!.join(' ');
    expect(cmd).toContain('--appendonly yes');
    expect(cmd).toContain('--maxmemory-policy noeviction');
    expect(services.redis!.volumes).toEqual(expect.arrayContaining([expect.stringMatching(/:\/data$/)]));
  });

  it('configures the app through variables the config knows, with the worker metrics port Prometheus scrapes', () => {
    const env = services.api!.environment!;
    for (const key of Object.keys(env)) expect(read('src/config.ts'), `unknown variable ${key}`).toContain(`${key}:`);
    expect(services.agents!.environment!.METRICS_PORT).toBe('9464');
  });

  it('mounts only files that exist', () => {
    for (const svc of Object.values(services)) {
      for (const v of svc.volumes ?? []) {
        const source = v.split(':')[0]!;
        if (source.startsWith('./')) expect(existsSync(source), source).toBe(true);
        else expect(compose.volumes, `named volume ${source}`).toHaveProperty(source);
      }
    }
  });
});

describe('Prometheus and Grafana provisioning', () => {
  const prom = parse(read('ops/prometheus.yml')) as {
    scrape_configs: Array<{ job_name: string; dns_sd_configs?: Array<{ names: string[]; type: string; port: number }> }>;
  };

  it('scrapes the API and every worker service through DNS discovery, on the ports they serve', () => {
    const targets = new Map<string, number>();
    for (const job of prom.scrape_configs) for (const sd of job.dns_sd_configs ?? []) for (const n of sd.names) targets.set(n, sd.port);
    expect(targets.get('api')).toBe(Number(services.api!.environment!.PORT));
    expect(targets.get('planner')).toBe(Number(services.planner!.environment!.METRICS_PORT));
    expect(targets.get('agents')).toBe(Number(services.agents!.environment!.METRICS_PORT));
  });

  it('provisions the Prometheus datasource and a dashboard whose queries use only metrics the service exports', () => {
    const ds = parse(read('ops/grafana/provisioning/datasources/prometheus.yml')) as { datasources: Array<{ uid: string; url: string; type: string }> };
    expect(ds.datasources[0]).toMatchObject({ type: 'prometheus', uid: 'prometheus', url: 'http://prometheus:9090' });
    const providers = parse(read('ops/grafana/provisioning/dashboards/codelab.yml')) as { providers: Array<{ options: { path: string } }> };
    const mount = services.grafana!.volumes!.find((v) => v.startsWith('./ops/grafana/dashboards:'))!;
    expect(mount.split(':')[1]).toBe(providers.providers[0]!.options.path);

    const dashboard = JSON.parse(read('ops/grafana/dashboards/codelab.json')) as {
      panels: Array<{ type: string; title: string; targets?: Array<{ expr: string; datasource: { uid: string } }> }>;
    };
    const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
    expect(rows).toEqual(['Throughput', 'Latency', 'Queues', 'Failures', 'LLM spend', 'Cache and approvals']);
    const registry = createMetrics({ defaultMetrics: false }).registry;
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []);
    expect(exprs.length).toBeGreaterThan(15);
    for (const t of exprs) {
      expect(t.datasource.uid).toBe('prometheus');
      for (const [name] of t.expr.matchAll(/codelab_[a-z_]+/g)) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        expect(registry.getSingleMetric(base), `${name} in "${t.expr}"`).toBeDefined();
      }
    }
  });
});

describe('Dockerfile, .dockerignore and Procfile', () => {
  it('builds on node:20-slim with npm ci and runs TypeScript with tsx', () => {
    const docker = read('Dockerfile');
    expect(docker).toMatch(/^FROM node:20-slim$/m);
    expect(docker).toMatch(/^RUN npm ci\b/m);
    expect(docker).toMatch(/^CMD \["node", "--import", "tsx", "bin\/start\.ts"/m);
    expect(pkg.dependencies.tsx).toBeDefined(); // npm ci --omit=dev keeps it
    for (const [, src] of docker.matchAll(/^COPY (?!--from)(\S+) /gm)) if (src !== '.') expect(existsSync(src!)).toBe(true);
    // The UI's static files come from the build stage: `/` is the UI in the image, not a 503.
    expect(docker).toMatch(/^RUN npm run build$/m);
    expect(docker).toMatch(/^COPY --from=web \/app\/web\/dist web\/dist$/m);
    const ignored = read('.dockerignore').split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', '.env', '.dev-jwt-secret']));
  });

  it('declares web, worker and release with commands that exist', () => {
    const entries = read('Procfile').trim().split('\n').map((l) => /^([a-z]+):\s*(.+)$/.exec(l)!);
    expect(entries.map((e) => e[1])).toEqual(['web', 'worker', 'release']);
    for (const [, , command] of entries) {
      const script = /^npm run ([\w:-]+)$/.exec(command!)?.[1];
      expect(script, command).toBeDefined();
      const body = pkg.scripts[script!];
      expect(body, `package.json script ${script}`).toBeDefined();
      // An optional leading NODE_OPTIONS="…" (the API's young-generation size), then tsx <file>.
      const file = /^(?:NODE_OPTIONS="[^"]*" )?tsx (\S+\.ts)/.exec(body!)?.[1];
      expect(file && existsSync(file), `${script}: ${body}`).toBe(true);
    }
    expect(pkg.scripts['start:api']).toContain('--api');
    expect(pkg.scripts['start:api']).toContain('--max-semi-space-size=64');
    expect(pkg.scripts['start:worker']).toContain('--workers');
  });
});
