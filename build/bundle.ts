// `npm run build` (and `prepare`), after tsc: `sidecar/cli.ts` and everything it imports as one ES module,
// dist/tz-sidecar.js, which the `tz-sidecar` bin runs outside a checkout. One file means one read and one compile at
// start instead of resolving and loading hundreds of modules (undici alone is ~200 files).
//
// Kept outside the file, loaded from node_modules only when the config or environment asks for them:
// - the OpenTelemetry SDK (OTEL_EXPORTER_OTLP_ENDPOINT), imported inside sidecar/ops/tracing.ts startTracing;
// - minijinja-js (templates): its WASM file is found next to its own module, so it cannot move into the bundle;
// - pino-pretty (logs on a terminal);
// - ajv (schemas), @clickhouse/client (TENSORZERO_CLICKHOUSE_URL), http-proxy-3 (passthrough_upstream): loaded
//   through createRequire where first used, which a bundler does not follow.
import { build } from 'esbuild'
import { cpSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
// `node build/bundle.ts [DIR]`: the package's dist/ unless told otherwise (test/bundle.test.ts builds into a temp dir).
const outDir = path.resolve(process.argv[2] ?? path.join(root, 'dist'))

await build({
  absWorkingDir: root,
  entryPoints: ['sidecar/cli.ts'],
  outfile: path.join(outDir, 'tz-sidecar.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22.18',
  sourcemap: 'linked',
  logLevel: 'warning',
  external: [
    '@opentelemetry/sdk-trace-node', '@opentelemetry/sdk-trace-base', '@opentelemetry/exporter-trace-otlp-http',
    '@opentelemetry/resources', '@opentelemetry/core', 'minijinja-js', 'pino-pretty'
  ],
  // The CommonJS packages inside (undici, pino, prom-client…) call require() for Node's built-ins; an ES module has
  // no require of its own.
  banner: { js: "import { createRequire as tzSidecarCreateRequire } from 'node:module'; const require = tzSidecarCreateRequire(import.meta.url);" }
})
// src/store/migrate.ts reads its SQL next to itself (import.meta.url): next to the bundle, and next to tsc's
// dist/src/store/migrate.js, which embedded mode (tz-sidecar/sdk-patch) loads.
for (const to of [path.join(outDir, 'sql'), path.join(outDir, 'src/store/sql')]) cpSync(path.join(root, 'src/store/sql'), to, { recursive: true })
