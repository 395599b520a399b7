// The `tz-sidecar` process's OpenTelemetry SDK: a Node tracer provider exporting OTLP/HTTP (JSON) in batches.
// Imported lazily by start.ts, only when OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set: otherwise the
// spans of the core stay no-ops and none of this loads. Registering also installs the W3C trace-context propagator
// (incoming `traceparent` continued, `traceparent` sent to providers) and the AsyncLocalStorage context manager.
// The SDK packages are imported inside startTracing, once an endpoint is known: the shipped bundle keeps them outside
// its one file (a static import there would load them at every start).
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base'
import type { ExportResult } from '@opentelemetry/core'
import type { Attributes } from '@opentelemetry/api'

export interface Tracing {
  /** Traces go here (`…/v1/traces`). */
  url: string
  /** Export what is buffered, then stop. */
  shutdown (): Promise<void>
}

function tracesUrl (env: NodeJS.ProcessEnv): string | undefined {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
  if (traces !== undefined && traces !== '') return traces
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT
  if (base === undefined || base === '') return undefined
  return `${base.replace(/\/+$/, '')}/v1/traces`
}

function nonEmpty (raw: string | undefined): string | undefined {
  return raw === undefined || raw === '' ? undefined : raw
}

function positive (raw: string | undefined): number | undefined {
  const n = Number(raw)
  return raw !== undefined && raw !== '' && Number.isFinite(n) && n > 0 ? n : undefined
}

/**
 * Error messages reach spans (status, exception events) and may quote a provider's answer, which may echo a key:
 * string values are scrubbed of the secret values before export, as log lines are.
 */
class ScrubbingExporter implements SpanExporter {
  private readonly inner: SpanExporter
  private readonly scrub: (text: string) => string
  constructor (inner: SpanExporter, scrub: (text: string) => string) { this.inner = inner; this.scrub = scrub }

  export (spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    for (const span of spans) {
      const status = span.status as { message?: string }
      if (status.message !== undefined) status.message = this.scrub(status.message)
      this.attributes(span.attributes)
      for (const event of span.events) if (event.attributes !== undefined) this.attributes(event.attributes)
    }
    this.inner.export(spans, done)
  }

  private attributes (attrs: Attributes): void {
    const a = attrs as Record<string, unknown>
    for (const key of Object.keys(a)) if (typeof a[key] === 'string') a[key] = this.scrub(a[key])
  }

  async shutdown (): Promise<void> { await this.inner.shutdown() }
  async forceFlush (): Promise<void> { await this.inner.forceFlush?.() }
}

export async function startTracing (opts: { service: string; env: NodeJS.ProcessEnv; scrub?: (text: string) => string }): Promise<Tracing | undefined> {
  const url = tracesUrl(opts.env)
  if (url === undefined) return undefined
  const [{ NodeTracerProvider }, { BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'), import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'), import('@opentelemetry/resources')
  ])
  const otlp = new OTLPTraceExporter({ url })
  const exporter = opts.scrub === undefined ? otlp : new ScrubbingExporter(otlp, opts.scrub)
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      // The same name labels metrics and Loki streams, so a metric leads to its traces without a lookup table.
      'service.name': nonEmpty(opts.env.OTEL_SERVICE_NAME) ?? opts.service,
      'service.namespace': 'pmoves',
      'tz_sidecar.service': opts.service
    }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: positive(opts.env.OTEL_BSP_SCHEDULE_DELAY) })]
  })
  provider.register()
  return { url, shutdown: async () => { await provider.shutdown() } }
}
