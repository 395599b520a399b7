// `[gateway]`: every key TensorZero's gateway accepts is accepted (a key it does not know is an error, since the
// TensorZero gateway refuses to start on it); only the keys the sidecar acts on are kept.
import type { TableReader } from './reader.ts'
import type { GatewayConfig } from '../core/config.ts'
import { readFolderPath } from './referenced-files.ts'

const GATEWAY_KEYS = [
  'bind_address', 'observability', 'debug', 'template_filesystem_access', 'export', 'base_path',
  'unstable_disable_feedback_target_validation', 'unstable_error_json', 'disable_pseudonymous_usage_analytics',
  'fetch_and_encode_input_files_before_inference', 'auth', 'global_outbound_http_timeout_ms', 'relay', 'metrics', 'cache',
]
const OBSERVABILITY_KEYS = ['enabled', 'backend', 'async_writes', 'batch_writes', 'disable_automatic_migrations']
const BATCH_WRITES_KEYS = ['enabled', '__force_allow_embedded_batch_writes', 'flush_interval_ms', 'max_rows', 'max_rows_postgres']

export function readGateway (r: TableReader | undefined): GatewayConfig {
  const out: GatewayConfig = { batchWrites: { flushIntervalMs: 100, maxRows: 1000 } }
  if (!r) return out
  r.checkKeys(GATEWAY_KEYS)
  // Checked as TensorZero checks them, then not kept: `bind_address` is where a TensorZero gateway listens (the
  // sidecar's own address is `--bind-address` / SIDECAR_BIND_ADDRESS), `debug` is TensorZero's own logging, and
  // rows are always written in batches here, whatever `batch_writes.enabled` says.
  const bind = r.string('bind_address')
  if (bind !== undefined && !/^(\[[0-9A-Fa-f:.]+\]|[^:\s]+):\d{1,5}$/.test(bind)) {
    r.error('bind_address', `\`${r.name('bind_address')}\` must be HOST:PORT, got "${bind}"`)
  }
  r.boolean('debug')
  readAuth(r.sub('auth'))
  readUnusedTables(r)
  const obs = r.sub('observability')
  if (obs) {
    obs.checkKeys(OBSERVABILITY_KEYS)
    const enabled = obs.boolean('enabled')
    if (enabled !== undefined) out.observabilityEnabled = enabled
    const bw = obs.sub('batch_writes')
    if (bw) {
      bw.checkKeys(BATCH_WRITES_KEYS)
      bw.boolean('enabled')
      out.batchWrites.flushIntervalMs = bw.number('flush_interval_ms', { integer: true, positive: true }) ?? 100
      out.batchWrites.maxRows = bw.number('max_rows', { integer: true, positive: true }) ?? 1000
    }
  }
  const templates = r.sub('template_filesystem_access')
  if (templates) {
    templates.checkKeys(['enabled', 'base_path'])
    if (templates.boolean('enabled') !== undefined) {
      templates.warning('enabled', '`template_filesystem_access.enabled` is deprecated: includes are loaded if and only if `base_path` is set')
    }
    // Relative to the file that declares it, like every path in the config.
    const base = readFolderPath(templates, 'base_path')
    if (base !== undefined) out.templateBasePath = base
  }
  return out
}

/**
 * `[gateway.auth]` as TensorZero's `AuthConfig` reads it: `enabled` is required once the table is there (a lone
 * `[gateway.auth.cache]` fails its start). The sidecar checks no TensorZero API keys (they live in TensorZero's
 * Postgres); its own bearer key is SIDECAR_API_KEY, so `enabled = true` says what is and is not enforced.
 */
function readAuth (auth: TableReader | undefined): void {
  if (auth === undefined) return
  auth.checkKeys(['enabled', 'cache'])
  const cache = auth.sub('cache')
  if (cache !== undefined) {
    cache.checkKeys(['enabled', 'ttl_ms'])
    cache.boolean('enabled')
    cache.number('ttl_ms', { integer: true, min: 0 })
  }
  if (!auth.has('enabled')) { auth.missing('enabled'); return }
  if (auth.boolean('enabled') !== true) return
  auth.warning('enabled', (auth.ctx.env.SIDECAR_API_KEY ?? '') === ''
    ? '`gateway.auth.enabled`: tz-sidecar does not check TensorZero API keys, and SIDECAR_API_KEY is unset: requests are served without authentication'
    : '`gateway.auth.enabled`: tz-sidecar does not check TensorZero API keys; clients authenticate with SIDECAR_API_KEY instead')
}

/**
 * `relay`, `metrics`, `cache` and `export` configure TensorZero's own relaying, Prometheus buckets, inference cache
 * backend and OTLP export; the sidecar acts on none of them, but their structs deny unknown keys and their enums
 * other values, so a config that passes here starts the gateway too.
 */
function readUnusedTables (r: TableReader): void {
  r.sub('relay')?.checkKeys(['gateway_url', 'api_key_location'])
  const metrics = r.sub('metrics')
  if (metrics !== undefined) {
    metrics.checkKeys([BUCKETS_KEY])
    readBuckets(metrics)
  }
  const cache = r.sub('cache')
  if (cache !== undefined) {
    cache.checkKeys(['enabled', 'backend', 'valkey'])
    cache.boolean('enabled')
    cache.oneOf('backend', ['auto', 'clickhouse', 'valkey'])
    const valkey = cache.sub('valkey')
    valkey?.checkKeys(['ttl_s'])
    valkey?.number('ttl_s', { integer: true, min: 0 })
  }
  const otlp = r.sub('export')
  otlp?.checkKeys(['otlp'])
  const traces = otlp?.sub('otlp')
  traces?.checkKeys(['traces'])
  const t = traces?.sub('traces')
  if (t !== undefined) {
    t.checkKeys(['enabled', 'format', 'extra_headers', 'include_content'])
    t.boolean('enabled')
    t.boolean('include_content')
    t.oneOf('format', ['opentelemetry', 'openinference'])
  }
}

const BUCKETS_KEY = 'tensorzero_inference_latency_overhead_seconds_buckets'

/** TensorZero's `MetricsConfig::validate`: finite, non-negative, strictly ascending. */
function readBuckets (metrics: TableReader): void {
  const buckets = metrics.get(BUCKETS_KEY)
  if (buckets === undefined) return
  if (!Array.isArray(buckets) || !buckets.every(b => typeof b === 'number' && Number.isFinite(b) && b >= 0)) {
    metrics.error(BUCKETS_KEY, `\`${metrics.name(BUCKETS_KEY)}\` must be an array of finite, non-negative numbers of seconds`)
    return
  }
  const i = buckets.findIndex((b, k) => k > 0 && b <= buckets[k - 1])
  if (i > 0) metrics.error(BUCKETS_KEY, `\`${metrics.name(BUCKETS_KEY)}\` must be strictly ascending, but [${i}] (${buckets[i]}) <= [${i - 1}] (${buckets[i - 1]})`)
}
