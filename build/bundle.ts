// `npm run build` (and `prepare`), after tsc: `sidecar/cli.ts` and everything it imports as one ES module,
// dist/tz-sidecar.js, which the `tz-sidecar` bin runs outside a checkout. One file means one read and one compile at
// start instead of resolving and loading hundreds of modules (undici alone is ~200 files).
//
// Kept outside the file, loaded from node_modules only when the config or environment asks for them:
// - the OpenTelemetry SDK (OTEL_EXPORTER_OTLP_ENDPOINT), imported inside sidecar/ops/tracing.ts startTracing;
// - minijinja-js (templates): its WASM file is found next to its own module, so it cannot move into the bundle;
// - pino-pretty (logs on a terminal); iovalkey and pg ([rate_limiting] with TENSORZERO_VALKEY_URL / _POSTGRES_URL);
// - ajv (schemas), @clickhouse/client (TENSORZERO_CLICKHOUSE_URL), http-proxy-3 (passthrough_upstream): loaded
//   through createRequire where first used, which a bundler does not follow.
import { build } from 'esbuild'
import type { Plugin } from 'esbuild'
import { cpSync } from 'node:fs'
import { isBuiltin } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
// `node build/bundle.ts [DIR]`: the package's dist/ unless told otherwise (test/bundle.test.ts builds into a temp dir).
const outDir = path.resolve(process.argv[2] ?? path.join(root, 'dist'))

// Node's built-ins are taken with require(), not import: an ES import of `node:http` builds its ES module facade, which
// reads every export, and the WebSocket/MessageEvent getters among them load Node's own bundled undici (~100 ms of a
// start here; require('node:http') costs ~5 ms).
const builtinsThroughRequire: Plugin = {
  name: 'builtins-through-require',
  setup (b) {
    b.onResolve({ filter: /.*/ }, args =>
      args.kind !== 'require-call' && isBuiltin(args.path) ? { path: args.path, namespace: 'builtin' } : undefined)
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, args => ({ contents: `module.exports = require(${JSON.stringify(args.path)})`, loader: 'js' }))
  }
}

await build({
  absWorkingDir: root,
  entryPoints: ['sidecar/cli.ts'],
  outfile: path.join(outDir, 'tz-sidecar.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22.18',
  sourcemap: 'linked',
  // Without comments and with shorter syntax (names kept, so stack traces still read; `node --enable-source-maps` maps
  // them back to the sources): less to read and hold. Every comment gone also keeps the file pure ASCII, so V8 holds its
  // source one byte per character instead of two (a few third-party comments carry a ’ or §).
  minifyWhitespace: true,
  minifySyntax: true,
  // Licence notices go to dist/tz-sidecar.js.LEGAL.txt, shipped beside it.
  legalComments: 'external',
  logLevel: 'warning',
  plugins: [builtinsThroughRequire],
  external: [
    '@opentelemetry/sdk-trace-node', '@opentelemetry/sdk-trace-base', '@opentelemetry/exporter-trace-otlp-http',
    '@opentelemetry/resources', '@opentelemetry/core', 'minijinja-js', 'pino-pretty', 'iovalkey', 'pg'
  ],
  // The CommonJS packages inside (undici, pino, prom-client…) call require() for Node's built-ins; an ES module has
  // no require of its own.
  banner: { js: "import { createRequire as tzSidecarCreateRequire } from 'node:module'; const require = tzSidecarCreateRequire(import.meta.url);" }
})
// src/store/migrate.ts reads its SQL next to itself (import.meta.url): next to the bundle, and next to tsc's
// dist/src/store/migrate.js, which embedded mode (tz-sidecar/sdk-patch) loads.
for (const to of [path.join(outDir, 'sql'), path.join(outDir, 'src/store/sql')]) cpSync(path.join(root, 'src/store/sql'), to, { recursive: true })
