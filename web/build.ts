/**
 * Builds the web UI into web/dist with Vite (Preact, JSX through Oxc; no
 * plugin needed). `--if-missing` does nothing when web/dist/index.html
 * exists: `npm start` runs it so that `npm ci && npm start` serves the UI.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type InlineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const outDir = fileURLToPath(new URL('./dist/', import.meta.url));

export const viteConfig: InlineConfig = {
  root,
  configFile: false,
  base: '/',
  logLevel: 'warn',
  publicDir: 'public',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir,
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    // The whole UI is one small chunk: nothing to split.
    chunkSizeWarningLimit: 200,
  },
};

const { values } = parseArgs({ options: { 'if-missing': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
if (values.help) {
  console.log('Usage: npm run build    builds the web UI into web/dist (served by the API at /)\n  --if-missing   only when web/dist/index.html is missing');
  process.exit(0);
}
if (values['if-missing'] && existsSync(`${outDir}index.html`)) process.exit(0);
if (values['if-missing']) console.log('web UI not built yet: building it (npm run build)');
await build(viteConfig);
console.log(`web UI built into ${outDir}`);
