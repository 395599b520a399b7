// Prometheus metrics of one sidecar, on a private prom-client Registry:
// - TensorZero's own names (`tensorzero_requests_total`, `tensorzero_inferences_total`, token totals), with its labels,
//   so TensorZero dashboards work unchanged;
// - the names PMOVES alerts and dashboards use (p95 latency, request rate and error rate by model);
// - what an operator of a fallback proxy needs: time to first token, in-flight requests, provider attempts by outcome,
//   retries and fallbacks, circuits of model providers, spool and ClickHouse shipping, feedback by metric; plus Node's
//   default process metrics.
// Fed by an InferenceObserver (attempts, inferences, feedback) and a request listener (one call per finished request).
// Every label value comes from a closed set (ClosedLabels); a name the config does not know is `unknown`.
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client'
import type { LoadedConfig } from '../../src/core/config.ts'
import type { AttemptRecord, CircuitEvent, FeedbackRecord, InferenceObserver, InferenceRecord } from '../../src/core/records.ts'
import type { RateLimitEvent } from '../../src/core/rate-limiting.ts'
import type { SinkStatus } from '../../src/store/writer.ts'
import { DEFAULT_FUNCTION_NAME } from '../../src/core/names.ts'
import type { RequestLog } from './request-log.ts'
import { clientMistakeStatus, forEachStep, requestErrorClass, servedBy } from './request-log.ts'
import { ClosedLabels, statusClass, NONE, PASSTHROUGH } from './labels.ts'
import { INFERENCE_ENDPOINTS } from '../router.ts'

/** Seconds, from 5 ms to 5 minutes: LLM calls are slow, and HighLatency alerts at a p95 of 30 s. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300]

/** What the spool and ClickHouse writer report; read at every scrape. Absent fields are not exported. */
export interface SpoolStats {
  /** Rows waiting in the spool. */
  depthRows?: number
  /** Bytes of the spool on disk. */
  depthBytes?: number
  /** Rows inserted into ClickHouse since the process started. */
  shippedRows?: number
  /** Rows ClickHouse refused as invalid (moved aside), since the process started. */
  rejectedRows?: number
  /** Rows dropped (spool or queue full), since the process started. */
  droppedRows?: number
  /** Insert attempts that failed and will be retried, since the process started. */
  failedBatches?: number
  /** Whether ClickHouse took the last attempt (connected), did not (unreachable), or is not configured (disabled). */
  clickhouse?: 'connected' | 'unreachable' | 'disabled'
}

/** The ClickHouse sink's `status()` as SpoolStats: `metrics.setSpoolSource(() => sinkSpoolStats(sink.status()))`. */
export function sinkSpoolStats (s: SinkStatus): SpoolStats {
  return {
    depthRows: s.spoolDepthRows,
    depthBytes: s.spoolBytes,
    shippedRows: s.shippedRows,
    rejectedRows: s.rejectedRows,
    droppedRows: s.droppedRows,
    failedBatches: s.failedBatches,
    clickhouse: s.clickhouse
  }
}


const ATTEMPT_OUTCOMES: Record<AttemptRecord['outcome'], string> = {
  ok: 'ok',
  timeout: 'timeout',
  rate_limit: '429',
  server: '5xx',
  client: '4xx',
  connection: 'connection',
  bad_response: 'bad_response',
  credentials: 'credentials',
  unsupported: 'unsupported',
  circuit_open: 'circuit_open'
}

export interface MetricsOptions {
  /** `service` label on every series (the per-service file's `service`). */
  service: string
  /** Node process metrics (default: true). */
  processMetrics?: boolean
}

export class SidecarMetrics {
  readonly registry = new Registry()
  readonly labels: ClosedLabels
  /** Plug into the Gateway (combine with other observers). */
  readonly observer: InferenceObserver
  private inFlightSource?: () => number
  private spoolSource?: () => SpoolStats | undefined

  // TensorZero
  private readonly tzRequests: Counter
  private readonly tzInferences: Counter
  private readonly tzInputTokens: Counter
  private readonly tzOutputTokens: Counter
  // PMOVES
  private readonly duration: Histogram
  private readonly requestCount: Counter
  private readonly errorCount: Counter
  private readonly clientErrorCount: Counter
  private readonly tokenUsage: Counter
  // sidecar
  private readonly httpRequests: Counter
  private readonly requestErrors: Counter
  private readonly ttft: Histogram
  private readonly attempts: Counter
  private readonly attemptDuration: Histogram
  private readonly inferences: Counter
  private readonly fallbacks: Counter
  private readonly retries: Counter
  private readonly feedback: Counter
  private readonly circuitOpen: Gauge
  private readonly circuitTransitions: Counter
  private readonly configReloads: Counter
  private readonly configLoadedAt: Gauge
  private readonly rateLimited: Counter
  private readonly rateLimitStoreSeconds: Histogram
  private readonly rateLimitStoreUp: Gauge
  private readonly rateLimitOutages: Counter
  /** `[[rate_limiting.rules]]` scopes by index (of the config in use): the only `scope` label values. */
  private ruleScopes: string[]

  constructor (config: LoadedConfig, opts: MetricsOptions) {
    this.labels = new ClosedLabels(config)
    const registers = [this.registry]
    this.registry.setDefaultLabels({ service: opts.service })
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry })

    this.tzRequests = new Counter({ name: 'tensorzero_requests_total', help: 'Requests handled by TensorZero', labelNames: ['endpoint', 'function_name', 'model_name', 'metric_name'], registers })
    this.tzInferences = new Counter({ name: 'tensorzero_inferences_total', help: 'Inferences performed by TensorZero', labelNames: ['endpoint', 'function_name', 'model_name'], registers })
    this.tzInputTokens = new Counter({ name: 'tensorzero_input_tokens_total', help: 'Input tokens consumed by TensorZero inferences', registers })
    this.tzOutputTokens = new Counter({ name: 'tensorzero_output_tokens_total', help: 'Output tokens consumed by TensorZero inferences', registers })

    const request = ['route', 'function', 'model']
    this.duration = new Histogram({ name: 'tensorzero_request_duration_seconds', help: 'Inference request latency (whole response, streams included) by model', labelNames: [...request, 'status_class'], buckets: LATENCY_BUCKETS, registers })
    this.requestCount = new Counter({ name: 'tensorzero_request_count', help: 'Inference requests by model', labelNames: request, registers })
    this.errorCount = new Counter({ name: 'tensorzero_error_count', help: 'Failed inference requests by model (labels match tensorzero_request_count; classes in tz_sidecar_request_errors_total); requests refused because of the request itself are in tensorzero_client_error_count instead', labelNames: request, registers })
    this.clientErrorCount = new Counter({ name: 'tensorzero_client_error_count', help: 'Inference requests refused because of the request itself (unknown model, bad body, missing auth, too large), by HTTP status: not failed inferences', labelNames: [...request, 'status'], registers })
    this.tokenUsage = new Counter({ name: 'tensorzero_token_usage', help: 'Tokens by model and type (input, output)', labelNames: [...request, 'type'], registers })

    this.httpRequests = new Counter({ name: 'tz_sidecar_http_requests_total', help: 'HTTP requests on every route', labelNames: ['route', 'method', 'status_class'], registers })
    this.requestErrors = new Counter({ name: 'tz_sidecar_request_errors_total', help: 'Failed inference requests by error class', labelNames: [...request, 'status_class', 'error_class'], registers })
    this.ttft = new Histogram({ name: 'tz_sidecar_time_to_first_token_seconds', help: 'Streams: time from request to the first chunk sent to the client', labelNames: ['function', 'variant', 'model', 'provider'], buckets: LATENCY_BUCKETS, registers })
    const inFlight = (): number | undefined => this.inFlightSource?.()
    this.registry.registerMetric(new Gauge({
      name: 'tz_sidecar_in_flight_requests', help: 'Requests being served (streams until their end, WebSocket tunnels until they close), this scrape included', registers: [],
      collect () { const n = inFlight(); if (n !== undefined) this.set(n) }
    }))
    this.attempts = new Counter({ name: 'tz_sidecar_provider_attempts_total', help: 'Provider attempts by outcome (ok, timeout, 429, 5xx, 4xx, connection, bad_response, credentials, unsupported, circuit_open: skipped without a call)', labelNames: ['function', 'variant', 'model', 'provider', 'outcome'], registers })
    this.attemptDuration = new Histogram({ name: 'tz_sidecar_provider_attempt_duration_seconds', help: 'Provider attempt duration (streams: to the first chunk)', labelNames: ['model', 'provider', 'outcome'], buckets: LATENCY_BUCKETS, registers })
    this.inferences = new Counter({ name: 'tz_sidecar_inferences_total', help: 'Successful inferences by the variant, model and provider that served them', labelNames: ['function', 'variant', 'model', 'provider', 'stream'], registers })
    this.fallbacks = new Counter({ name: 'tz_sidecar_fallbacks_total', help: 'Fallbacks taken: kind=provider (next provider of the routing, from/to = model/provider) or kind=variant (from/to = variant)', labelNames: ['kind', 'function', 'from', 'to'], registers })
    this.retries = new Counter({ name: 'tz_sidecar_retries_total', help: 'Variant retries taken (the model routing walked again)', labelNames: ['function', 'variant', 'model'], registers })
    this.feedback = new Counter({ name: 'tz_sidecar_feedback_total', help: 'Feedback accepted, by metric', labelNames: ['metric', 'type'], registers })
    this.circuitOpen = new Gauge({ name: 'tz_sidecar_circuit_open', help: 'Health-aware routing: 1 while a model provider is skipped (circuit open or half-open, one probe at a time), 0 once closed again', labelNames: ['model', 'provider'], registers })
    this.circuitTransitions = new Counter({ name: 'tz_sidecar_circuit_transitions_total', help: 'Circuit state changes of model providers, by the state entered (open, half_open, closed)', labelNames: ['model', 'provider', 'to'], registers })

    this.configReloads = new Counter({ name: 'tz_sidecar_config_reloads_total', help: 'Config reloads (SIGHUP or a changed file) by result: success (swapped in for new requests) or failure (the config in use kept)', labelNames: ['result'], registers })
    for (const result of ['success', 'failure']) this.configReloads.inc({ result }, 0)
    this.configLoadedAt = new Gauge({ name: 'tz_sidecar_config_last_reload_success_timestamp_seconds', help: 'When the config in use was loaded (start, or the last successful reload), in Unix seconds', registers })
    this.configLoadedAt.setToCurrentTime()
    this.ruleScopes = config.tensorzero.rateLimiting?.rules.map(r => r.label) ?? []
    this.rateLimited = new Counter({ name: 'tz_sidecar_rate_limited_total', help: 'Provider attempts refused by [rate_limiting], by rule (index in the config), its scope and the resource that ran short', labelNames: ['rule', 'scope', 'resource'], registers })
    this.rateLimitStoreSeconds = new Histogram({ name: 'tz_sidecar_rate_limit_store_seconds', help: 'Round trips to the rate limiting store (operation: consume, return; outcome: ok, error)', labelNames: ['backend', 'operation', 'outcome'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers })
    this.rateLimitStoreUp = new Gauge({ name: 'tz_sidecar_rate_limit_store_up', help: '1 while the last round trip to the rate limiting store succeeded, 0 during an outage (requests under a limit are refused)', labelNames: ['backend'], registers })
    this.rateLimitOutages = new Counter({ name: 'tz_sidecar_rate_limit_store_outages_total', help: 'Outages of the rate limiting store (each counted once, when it starts)', labelNames: ['backend'], registers })

    this.observer = {
      onAttempt: a => { this.onAttempt(a) },
      onInference: r => { this.onInference(r) },
      onFeedback: f => { this.onFeedback(f) },
      onCircuit: e => { this.onCircuit(e) },
      onRateLimit: e => { this.onRateLimit(e) }
    }
  }

  /** A reload's outcome; a new config's names become label values (the old ones stay). */
  onConfigReload (result: 'success' | 'failure', config?: LoadedConfig): void {
    this.configReloads.inc({ result })
    if (config === undefined) return
    this.labels.learn(config)
    this.ruleScopes = config.tensorzero.rateLimiting?.rules.map(r => r.label) ?? []
    this.configLoadedAt.setToCurrentTime()
  }

  /** Where the in-flight gauge reads from (the sidecar's count). */
  setInFlightSource (source: () => number): void { this.inFlightSource = source }

  /**
   * Where the spool and ClickHouse metrics read from, at every scrape (e.g. mapped from the ClickHouse sink's `status()`).
   * They are only exported once a source is set: a sidecar without a spool shows none rather than zeros.
   */
  setSpoolSource (source: () => SpoolStats | undefined): void {
    const first = this.spoolSource === undefined
    this.spoolSource = source
    if (!first) return
    const spool = (): SpoolStats | undefined => this.spoolSource?.()
    const gauge = (name: string, help: string, field: 'depthRows' | 'depthBytes'): void => {
      this.registry.registerMetric(new Gauge({ name, help, registers: [], collect () { const v = spool()?.[field]; if (v !== undefined) this.set(v) } }))
    }
    gauge('tz_sidecar_spool_rows', 'Rows waiting in the local spool', 'depthRows')
    gauge('tz_sidecar_spool_bytes', 'Bytes of the local spool on disk', 'depthBytes')
    this.registry.registerMetric(new Gauge({
      name: 'tz_sidecar_clickhouse_state', help: '1 for the current ClickHouse state: connected, unreachable (rows wait in the spool) or disabled (no URL)', labelNames: ['state'], registers: [],
      collect () {
        const state = spool()?.clickhouse
        if (state === undefined) return
        for (const s of ['connected', 'unreachable', 'disabled']) this.set({ state: s }, s === state ? 1 : 0)
      }
    }))
    this.registry.registerMetric(new Counter({
      name: 'tz_sidecar_clickhouse_rows_shipped_total', help: 'Rows ClickHouse acknowledged since start', registers: [],
      collect () { const v = spool()?.shippedRows; if (v !== undefined) { this.reset(); this.inc(v) } }
    }))
    this.registry.registerMetric(new Counter({
      name: 'tz_sidecar_clickhouse_rows_failed_total', help: 'Rows that will not reach ClickHouse since start: reason=rejected (invalid, moved aside) or dropped (spool or queue full)', labelNames: ['reason'], registers: [],
      collect () {
        const s = spool()
        this.reset()
        if (s?.rejectedRows !== undefined) this.inc({ reason: 'rejected' }, s.rejectedRows)
        if (s?.droppedRows !== undefined) this.inc({ reason: 'dropped' }, s.droppedRows)
      }
    }))
    this.registry.registerMetric(new Counter({
      name: 'tz_sidecar_clickhouse_failed_batches_total', help: 'ClickHouse insert attempts that failed (their rows stay in the spool and are retried) since start', registers: [],
      collect () { const v = spool()?.failedBatches; if (v !== undefined) { this.reset(); this.inc(v) } }
    }))
  }

  /** GET /metrics. */
  async render (): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }

  /** Request listener: one call per finished request. */
  onRequest (o: RequestLog): void {
    const L = this.labels
    const route = L.route(o.route)
    this.httpRequests.inc({ route, method: L.method(o.method), status_class: statusClass(o.status) })
    // Inference routes only: the requests PMOVES counts, times and alerts on.
    const endpoint = INFERENCE_ENDPOINTS.get(route)
    if (endpoint === undefined) return

    const served = servedBy(o)
    const labels = o.passthrough === true
      ? { route, function: NONE, model: PASSTHROUGH }
      : { route, function: L.fn(served.functionName), model: L.model(served.modelName) }
    const seconds = (performance.now() - o.started) / 1000
    const errorClass = requestErrorClass(o)
    const mistake = clientMistakeStatus(o)
    const failed = errorClass !== undefined && errorClass !== 'client_closed' && mistake === undefined
    this.requestCount.inc(labels)
    this.duration.observe({ ...labels, status_class: o.streamError === true ? 'stream_error' : statusClass(o.status) }, seconds)
    if (failed) {
      this.errorCount.inc(labels)
      this.requestErrors.inc({ ...labels, status_class: statusClass(o.error?.status ?? o.status), error_class: errorClass })
    }
    if (mistake !== undefined) this.clientErrorCount.inc({ ...labels, status: String(mistake) })
    if (o.usage !== undefined) {
      const { inputTokens, outputTokens } = o.usage
      if (inputTokens !== undefined) { this.tokenUsage.inc({ ...labels, type: 'input' }, inputTokens); this.tzInputTokens.inc(inputTokens) }
      if (outputTokens !== undefined) { this.tokenUsage.inc({ ...labels, type: 'output' }, outputTokens); this.tzOutputTokens.inc(outputTokens) }
    }
    if (o.ttftMs !== undefined && o.inference !== undefined) {
      this.ttft.observe({ function: labels.function, variant: L.variant(served.variantName), model: labels.model, provider: L.provider(served.providerName) }, o.ttftMs / 1000)
    }
    // TensorZero counts requests whose target resolved (the function exists), whatever their outcome.
    if (o.target !== undefined && o.passthrough !== true) {
      const tz: Record<string, string> = { endpoint }
      if (o.target.kind === 'function') tz.function_name = L.fn(o.target.functionName)
      else if (o.target.kind === 'model') { tz.function_name = DEFAULT_FUNCTION_NAME; tz.model_name = L.model(o.target.modelName) } else tz.model_name = L.model(o.target.modelName)
      this.tzRequests.inc(tz)
      this.tzInferences.inc(tz)
    }
    forEachStep(o, (kind, from, to) => {
      const fn = L.fn(to.functionName)
      if (kind === 'retry') this.retries.inc({ function: fn, variant: L.variant(to.variantName), model: L.model(to.modelName) })
      else if (kind === 'variant') this.fallbacks.inc({ kind, function: fn, from: L.variant(from.variantName), to: L.variant(to.variantName) })
      else this.fallbacks.inc({ kind, function: fn, from: `${L.model(from.modelName)}/${L.provider(from.providerName)}`, to: `${L.model(to.modelName)}/${L.provider(to.providerName)}` })
    })
  }

  private onAttempt (a: AttemptRecord): void {
    const L = this.labels
    const outcome = ATTEMPT_OUTCOMES[a.outcome] ?? 'other'
    const model = L.model(a.modelName)
    const provider = L.provider(a.providerName)
    this.attempts.inc({ function: L.fn(a.functionName), variant: L.variant(a.variantName), model, provider, outcome })
    this.attemptDuration.observe({ model, provider, outcome }, a.durationMs / 1000)
  }

  private onInference (r: InferenceRecord): void {
    const L = this.labels
    const m = r.modelInferences.at(-1)
    this.inferences.inc({ function: L.fn(r.functionName), variant: L.variant(r.variantName), model: L.model(m?.modelName), provider: L.provider(m?.providerName), stream: String(r.stream) })
  }

  private onCircuit (e: CircuitEvent): void {
    const labels = { model: this.labels.model(e.modelName), provider: this.labels.provider(e.providerName) }
    this.circuitOpen.set(labels, e.to === 'closed' ? 0 : 1)
    this.circuitTransitions.inc({ ...labels, to: e.to })
  }

  private onRateLimit (e: RateLimitEvent): void {
    if (e.kind === 'limited') {
      const known = this.ruleScopes[e.rule] === e.scope
      this.rateLimited.inc({ rule: known ? String(e.rule) : 'unknown', scope: known ? e.scope : 'unknown', resource: e.resource })
    } else if (e.kind === 'round_trip') {
      this.rateLimitStoreSeconds.observe({ backend: e.backend, operation: e.operation, outcome: e.ok ? 'ok' : 'error' }, e.seconds)
      if (e.ok) this.rateLimitStoreUp.set({ backend: e.backend }, 1)
    } else if (e.kind === 'store_down') {
      this.rateLimitStoreUp.set({ backend: e.backend }, 0)
      this.rateLimitOutages.inc({ backend: e.backend })
    }
  }

  private onFeedback (f: FeedbackRecord): void {
    const metric = this.labels.metric(f.metricName)
    this.feedback.inc({ metric, type: f.metricType })
    this.tzRequests.inc({ endpoint: 'feedback', metric_name: metric })
  }
}
