// OpenTelemetry spans of the inference path, through `@opentelemetry/api` only. Until a process registers an SDK
// (the `tz-sidecar` command does when OTEL_EXPORTER_OTLP_ENDPOINT is set) every span is a non-recording no-op:
// attributes are only computed for recording spans, so the request path pays a few allocations at most.
// Span names (function_inference → variant_inference → model_inference → model_provider_inference) and the GenAI
// attributes (gen_ai.operation.name, gen_ai.provider.name, gen_ai.request.model, gen_ai.usage.*) are TensorZero's.
import { trace, context, propagation, SpanKind, SpanStatusCode, ROOT_CONTEXT } from '@opentelemetry/api'
import type { Attributes, Span, Context } from '@opentelemetry/api'

const tracer = trace.getTracer('tz-sidecar')

/**
 * Runs `fn` inside a child span of the active one. The span ends when `fn` settles, unless `handOff` returns true:
 * then whoever `handOff` gave the span to must end it (streams end their spans when they are disposed).
 * A span that does not record (no SDK registered, or its trace not sampled) costs one object: `fn` runs as it is, with
 * no context switch, attributes or hand-off, since nothing of it would be exported (its children record nothing either).
 */
function inSpan<T> (name: string, attributes: () => Attributes, fn: () => Promise<T>,
  handOff?: (result: T, span: Span) => boolean): Promise<T> {
  const parent = context.active()
  const span = tracer.startSpan(name, undefined, parent)
  if (!span.isRecording()) return fn()
  span.setAttributes(attributes())
  return context.with(trace.setSpan(parent, span), async () => {
    let open = false
    try {
      const result = await fn()
      open = handOff?.(result, span) === true
      return result
    } catch (err) {
      failSpan(span, err)
      throw err
    } finally {
      if (!open) span.end()
    }
  })
}

/**
 * Wraps `fn` so each call runs inside a span `name` (see `inSpan`): the cross-cutting concern lives here, once, and the
 * wrapped function keeps its own signature. `attributes` sees the call's arguments and runs only for recording spans.
 */
export function traced<A extends unknown[], R> (name: string, attributes: (...args: A) => Attributes, fn: (...args: A) => Promise<R>,
  handOff?: (result: R, span: Span) => boolean): (...args: A) => Promise<R> {
  return (...args: A) => inSpan(name, () => attributes(...args), () => fn(...args), handOff)
}

/** Marks a span failed: status ERROR, the exception event, and `error.type`. */
export function failSpan (span: Span, err: unknown): void {
  if (!span.isRecording()) return
  const error = err instanceof Error ? err : new Error(String(err))
  span.recordException(error)
  span.setAttribute('error.type', (error as { errorClass?: string }).errorClass ?? error.name)
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message })
}

/** Sets attributes on the active span (if it records). */
export function setActiveAttributes (attributes: () => Attributes): void {
  const span = trace.getActiveSpan()
  if (span?.isRecording() === true) span.setAttributes(attributes())
}

/** Hands a stream's span over to its `dispose()` (called once the stream ended or was abandoned). */
export function endOnDispose (stream: { dispose: () => void }, span: Span): boolean {
  const inner = stream.dispose
  let ended = false
  stream.dispose = () => {
    inner()
    if (!ended) { ended = true; span.end() }
  }
  return true
}

/** Token usage in GenAI attribute names. */
export function usageAttributes (usage: { inputTokens?: number; outputTokens?: number }): Attributes {
  const attrs: Attributes = {}
  if (usage.inputTokens !== undefined) attrs['gen_ai.usage.input_tokens'] = usage.inputTokens
  if (usage.outputTokens !== undefined) attrs['gen_ai.usage.output_tokens'] = usage.outputTokens
  return attrs
}

/** Provider request headers plus the W3C `traceparent` of the active span (unchanged when nothing is propagated). */
export function withTraceHeaders (headers: Record<string, string>): Record<string, string> {
  const carrier: Record<string, string> = {}
  propagation.inject(context.active(), carrier)
  for (const _ in carrier) return { ...headers, ...carrier }
  return headers
}

/** The server span of one HTTP request, continuing an incoming `traceparent`. */
export function startServerSpan (name: string, headers: Record<string, string | string[] | undefined>,
  attributes: () => Attributes): { span: Span; context: Context } {
  const parent = propagation.extract(ROOT_CONTEXT, headers)
  const span = tracer.startSpan(name, { kind: SpanKind.SERVER }, parent)
  if (span.isRecording()) span.setAttributes(attributes())
  return { span, context: trace.setSpan(parent, span) }
}

/** Runs `fn` with `ctx` active (a plain call while no context manager is registered). */
export function runInContext<T> (ctx: Context, fn: () => T): T {
  return context.with(ctx, fn)
}

/** Trace and span ids of a span, for log lines; undefined when there is no valid trace (no SDK, no incoming traceparent). */
export function traceIds (span: Span): { traceId: string; spanId: string } | undefined {
  const sc = span.spanContext()
  if (sc.traceId === '00000000000000000000000000000000') return undefined
  return { traceId: sc.traceId, spanId: sc.spanId }
}
