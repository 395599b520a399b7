// Model inference: providers strictly in `routing` order; any failure moves on to the next (TENSORZERO.md §4.3).
// A stream counts as served once its first chunk arrives; failures after that are the caller's to report in-stream.
import { newId } from '../core/ids.ts'
import type { ModelConfig, ProviderConfig } from '../core/config.ts'
import type { ModelRequest, ProviderResponse, StreamDelta, EmbeddingRequest, EmbeddingResponse } from '../core/types.ts'
import type { ProviderAdapter, ProviderContext } from '../providers/adapter.ts'
import type { AttemptKind, InferenceObserver, ModelInferenceRecord } from '../core/records.ts'
import { ProviderError, ModelProvidersFailed } from '../core/errors.ts'
import { getAdapter, unsupportedTypeMessage } from '../providers/catalog.ts'
import { resolveApiKey } from '../providers/credentials.ts'
import { deadline, TimeoutError } from '../core/deadline.ts'
import type { Transport } from '../providers/http/transport.ts'
import { StreamCollector } from './stream.ts'
import { inSpan, endOnDispose, usageAttributes } from '../core/tracing.ts'
import type { Attributes, Span } from '@opentelemetry/api'

export interface CallContext {
  transport: Transport
  env: NodeJS.ProcessEnv
  /** `tensorzero::credentials`, for `dynamic::NAME` key locations. */
  credentials?: Record<string, string>
  signal: AbortSignal
  observer?: InferenceObserver
  functionName?: string
  variantName?: string
  /** Which try of its variant this walk is (0: the first; n: the n-th retry). */
  retryIndex?: number
  /** Position of the variant in the function's sampled order (0: the first chosen; n: the n-th fallback). */
  variantIndex?: number
}

export interface ModelCallResult {
  response: ProviderResponse
  record: ModelInferenceRecord
}

export interface ModelStream {
  providerName: string
  providerType: string
  first: StreamDelta
  /** The deltas after `first`. Throws (in-stream) when the provider fails mid-stream or a total timeout fires. */
  rest: AsyncIterator<StreamDelta>
  /** Call once the stream ended well: the model call's row, built from everything streamed. */
  finish (collector: StreamCollector): ModelInferenceRecord
  /** Release timers (stream ended or was abandoned). */
  dispose (): void
}

// ---- spans: `model_inference` around the routing walk, `model_provider_inference` around each provider attempt ----

const modelAttributes = (model: ModelConfig, operation: string, stream: boolean) => (): Attributes =>
  ({ model_name: model.name, 'gen_ai.operation.name': operation, stream })

const providerAttributes = (model: ModelConfig, provider: ProviderConfig, stream: boolean) => (): Attributes => ({
  model_name: model.name,
  model_provider_name: provider.name,
  'gen_ai.operation.name': 'chat',
  'gen_ai.provider.name': provider.type,
  'gen_ai.request.model': provider.modelName,
  stream
})

export async function inferModel (model: ModelConfig, req: ModelRequest, ctx: CallContext): Promise<ModelCallResult> {
  return await inSpan('model_inference', modelAttributes(model, 'chat', false), async () => await inferModelUntraced(model, req, ctx))
}

export async function streamModel (model: ModelConfig, req: ModelRequest, ctx: CallContext): Promise<ModelStream> {
  return await inSpan('model_inference', modelAttributes(model, 'chat', true), async () => await streamModelUntraced(model, req, ctx), endOnDispose)
}

async function callProvider (model: ModelConfig, provider: ProviderConfig, req: ModelRequest, ctx: CallContext,
  parent: AbortSignal, started: number): Promise<ModelCallResult> {
  return await inSpan('model_provider_inference', providerAttributes(model, provider, false),
    async () => await callProviderUntraced(model, provider, req, ctx, parent, started),
    (result, span) => { if (span.isRecording()) span.setAttributes(usageAttributes(result.response.usage)); return false })
}

async function startProviderStream (model: ModelConfig, provider: ProviderConfig, req: ModelRequest, ctx: CallContext,
  parent: AbortSignal, started: number): Promise<ModelStream> {
  return await inSpan('model_provider_inference', providerAttributes(model, provider, true),
    async () => await startProviderStreamUntraced(model, provider, req, ctx, parent, started),
    (stream, span: Span) => {
      const finish = stream.finish
      stream.finish = collector => {
        const record = finish(collector)
        if (span.isRecording()) span.setAttributes(usageAttributes(record))
        return record
      }
      return endOnDispose(stream, span)
    })
}

async function inferModelUntraced (model: ModelConfig, req: ModelRequest, ctx: CallContext): Promise<ModelCallResult> {
  const errors: Array<{ provider: string; error: Error }> = []
  const modelDeadline = deadline(ctx.signal, model.timeouts.nonStreamingTotalMs, `model \`${model.name}\``)
  try {
    for (let i = 0; i < model.routing.length; i++) {
      const providerName = model.routing[i]
      const provider = model.providers.get(providerName) as ProviderConfig
      const started = performance.now()
      try {
        const result = await callProvider(model, provider, req, ctx, modelDeadline.signal, started)
        report(ctx, model, provider, i, 'ok', started)
        return result
      } catch (err) {
        const error = asError(err)
        report(ctx, model, provider, i, outcomeOf(error), started, error.message)
        errors.push({ provider: providerName, error })
        if (ctx.signal.aborted) throw ctx.signal.reason
        if (modelDeadline.signal.aborted) throw modelDeadline.signal.reason
      }
    }
  } finally {
    modelDeadline.clear()
  }
  throw new ModelProvidersFailed(model.name, errors)
}

async function callProviderUntraced (model: ModelConfig, provider: ProviderConfig, req: ModelRequest, ctx: CallContext,
  parent: AbortSignal, started: number): Promise<ModelCallResult> {
  const { adapter, pctx } = prepare(model, provider, ctx)
  const limit = deadline(parent, provider.timeouts.nonStreamingTotalMs, `provider \`${provider.name}\``)
  try {
    let rawRequest: string
    let response: ProviderResponse
    if (adapter.kind === 'local') {
      const answer = await adapter.infer(req, pctx, limit.signal)
      rawRequest = answer.rawRequest
      response = answer
    } else {
      const spec = adapter.buildRequest(req, pctx)
      rawRequest = spec.body
      const answer = await ctx.transport.request(spec, limit.signal)
      if (answer.status < 200 || answer.status >= 300) throw adapter.classifyError(answer.status, answer.body, answer.headers)
      response = adapter.parseResponse(answer.body, pctx)
    }
    const record: ModelInferenceRecord = {
      id: newId(),
      modelName: model.name,
      providerName: provider.name,
      providerType: provider.type,
      rawRequest,
      rawResponse: response.rawResponse,
      inputTokens: response.usage.inputTokens,
      outputTokens: response.usage.outputTokens,
      responseTimeMs: Math.round(performance.now() - started),
      request: req,
      output: response.output,
      finishReason: response.finishReason,
      cached: false
    }
    return { response, record }
  } catch (err) {
    throw limit.signal.aborted && !parent.aborted ? limit.signal.reason : err
  } finally {
    limit.clear()
  }
}

/** Start a stream on the first provider, in routing order, that yields a first chunk. */
async function streamModelUntraced (model: ModelConfig, req: ModelRequest, ctx: CallContext): Promise<ModelStream> {
  const errors: Array<{ provider: string; error: Error }> = []
  const modelTotal = deadline(ctx.signal, model.timeouts.streamingTotalMs, `model \`${model.name}\` stream`)
  const modelTtft = deadline(modelTotal.signal, model.timeouts.streamingTtftMs, `model \`${model.name}\` time to first token`)
  for (let i = 0; i < model.routing.length; i++) {
    const providerName = model.routing[i]
    const provider = model.providers.get(providerName) as ProviderConfig
    const started = performance.now()
    try {
      const stream = await startProviderStream(model, provider, req, ctx, modelTtft.signal, started)
      modelTtft.stopTimer()
      report(ctx, model, provider, i, 'ok', started)
      const innerDispose = stream.dispose
      stream.dispose = () => { innerDispose(); modelTtft.clear(); modelTotal.clear() }
      return stream
    } catch (err) {
      const error = asError(err)
      report(ctx, model, provider, i, outcomeOf(error), started, error.message)
      errors.push({ provider: providerName, error })
      if (ctx.signal.aborted || modelTtft.signal.aborted) {
        modelTtft.clear(); modelTotal.clear()
        throw ctx.signal.aborted ? ctx.signal.reason : modelTtft.signal.reason
      }
    }
  }
  modelTtft.clear(); modelTotal.clear()
  throw new ModelProvidersFailed(model.name, errors)
}

async function startProviderStreamUntraced (model: ModelConfig, provider: ProviderConfig, req: ModelRequest, ctx: CallContext,
  parent: AbortSignal, started: number): Promise<ModelStream> {
  const { adapter, pctx } = prepare(model, provider, ctx)
  const total = deadline(parent, provider.timeouts.streamingTotalMs, `provider \`${provider.name}\` stream`)
  const ttft = deadline(total.signal, provider.timeouts.streamingTtftMs, `provider \`${provider.name}\` time to first token`)
  const signal = ttft.signal
  const rawChunks: string[] = []
  let rawRequest: string
  let deltas: AsyncIterator<StreamDelta>
  try {
    if (adapter.kind === 'local') {
      const s = adapter.stream(req, pctx, signal)
      rawRequest = s.rawRequest
      deltas = s.deltas[Symbol.asyncIterator]()
    } else {
      const spec = adapter.buildRequest(req, pctx)
      rawRequest = spec.body
      const answer = await ctx.transport.stream(spec, signal)
      if (answer.events === undefined) throw adapter.classifyError(answer.status, answer.body ?? '', answer.headers)
      deltas = httpDeltas(adapter, answer.events, pctx, rawChunks)
    }
    const first = await deltas.next()
    if (first.done === true) throw new ProviderError(`provider \`${provider.name}\` ended its stream before the first chunk`, 'bad_response')
    ttft.stopTimer()
    const ttftMs = Math.round(performance.now() - started)
    const rest = timeoutAware(deltas, signal, parent)
    return {
      providerName: provider.name,
      providerType: provider.type,
      first: first.value,
      rest,
      finish (collector) {
        return {
          id: newId(),
          modelName: model.name,
          providerName: provider.name,
          providerType: provider.type,
          rawRequest,
          rawResponse: rawChunks.join('\n'),
          inputTokens: collector.usage.inputTokens,
          outputTokens: collector.usage.outputTokens,
          responseTimeMs: Math.round(performance.now() - started),
          ttftMs,
          request: req,
          output: collector.output(),
          finishReason: collector.finishReason,
          cached: false
        }
      },
      dispose () { ttft.clear(); total.clear() }
    }
  } catch (err) {
    ttft.clear(); total.clear()
    throw signal.aborted && !parent.aborted ? signal.reason : err
  }
}

async function * httpDeltas (adapter: Extract<ProviderAdapter, { kind: 'http' }>, events: AsyncIterable<import('../providers/adapter.ts').SseEvent>,
  pctx: ProviderContext, rawChunks: string[]): AsyncGenerator<StreamDelta> {
  const state = {}
  for await (const event of events) {
    const delta = adapter.parseStreamEvent(event, state, pctx)
    if (delta === null) return
    rawChunks.push(event.data)
    yield delta
  }
}

/** Mid-stream, an abort caused by a timeout must surface as that TimeoutError rather than a generic abort. */
function timeoutAware (it: AsyncIterator<StreamDelta>, signal: AbortSignal, parent: AbortSignal): AsyncIterator<StreamDelta> {
  const mapError = (err: unknown): never => {
    if (signal.aborted && signal.reason instanceof TimeoutError) throw signal.reason
    if (parent.aborted && parent.reason instanceof TimeoutError) throw parent.reason
    throw err
  }
  return {
    // A rejection handler, not an async wrapper: one promise per delta instead of an extra async frame and await.
    next: () => it.next().then(undefined, mapError),
    async return () {
      await it.return?.()
      return { done: true, value: undefined }
    }
  }
}

function prepare (model: ModelConfig, provider: ProviderConfig, ctx: CallContext): { adapter: ProviderAdapter; pctx: ProviderContext } {
  const adapter = getAdapter(provider.type)
  if (adapter === undefined) throw new ProviderError(unsupportedTypeMessage(provider.type), 'unsupported')
  const key = resolveApiKey(provider.keyLocation, ctx.credentials, ctx.env)
  if (!key.ok) throw new ProviderError(key.message, 'credentials')
  return { adapter, pctx: { provider, apiKey: key.key, variantName: ctx.variantName, modelName: model.name } }
}

// ---- embeddings: same routing walk, no streams ----

export async function embedModel (model: ModelConfig, req: EmbeddingRequest, ctx: CallContext): Promise<EmbeddingResponse & { providerName: string; rawRequest: string }> {
  return await inSpan('model_inference', modelAttributes(model, 'embeddings', false), async () => await embedModelUntraced(model, req, ctx),
    (result, span) => { if (span.isRecording()) span.setAttributes({ model_provider_name: result.providerName, ...usageAttributes(result.usage) }); return false })
}

async function embedModelUntraced (model: ModelConfig, req: EmbeddingRequest, ctx: CallContext): Promise<EmbeddingResponse & { providerName: string; rawRequest: string }> {
  const errors: Array<{ provider: string; error: Error }> = []
  const modelDeadline = deadline(ctx.signal, model.timeouts.nonStreamingTotalMs, `embedding model \`${model.name}\``)
  try {
    for (let i = 0; i < model.routing.length; i++) {
      const providerName = model.routing[i]
      const provider = model.providers.get(providerName) as ProviderConfig
      const started = performance.now()
      const limit = deadline(modelDeadline.signal, provider.timeouts.nonStreamingTotalMs, `provider \`${provider.name}\``)
      try {
        const { adapter, pctx } = prepare(model, provider, ctx)
        let result: EmbeddingResponse & { rawRequest: string }
        if (adapter.kind === 'local') {
          if (adapter.embed === undefined) throw new ProviderError(`provider type \`${provider.type}\` does not serve embeddings`, 'unsupported')
          result = await adapter.embed(req, pctx, limit.signal)
        } else {
          if (adapter.buildEmbeddingRequest === undefined || adapter.parseEmbeddingResponse === undefined) {
            throw new ProviderError(`provider type \`${provider.type}\` does not serve embeddings`, 'unsupported')
          }
          const spec = adapter.buildEmbeddingRequest(req, pctx)
          const answer = await ctx.transport.request(spec, limit.signal)
          if (answer.status < 200 || answer.status >= 300) throw adapter.classifyError(answer.status, answer.body, answer.headers)
          result = { ...adapter.parseEmbeddingResponse(answer.body, pctx), rawRequest: spec.body }
        }
        report(ctx, model, provider, i, 'ok', started)
        return { ...result, providerName }
      } catch (err) {
        const error = asError(limit.signal.aborted && !modelDeadline.signal.aborted ? limit.signal.reason : err)
        report(ctx, model, provider, i, outcomeOf(error), started, error.message)
        errors.push({ provider: providerName, error })
        if (ctx.signal.aborted) throw ctx.signal.reason
        if (modelDeadline.signal.aborted) throw modelDeadline.signal.reason
      } finally {
        limit.clear()
      }
    }
  } finally {
    modelDeadline.clear()
  }
  throw new ModelProvidersFailed(model.name, errors)
}

// ---- shared ----

function asError (err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

function outcomeOf (err: Error): import('../core/records.ts').AttemptRecord['outcome'] {
  if (err instanceof TimeoutError) return 'timeout'
  if (err instanceof ProviderError) return err.errorClass
  return 'connection'
}

function report (ctx: CallContext, model: ModelConfig, provider: ProviderConfig, routingIndex: number, outcome: import('../core/records.ts').AttemptRecord['outcome'],
  started: number, message?: string): void {
  ctx.observer?.onAttempt?.({
    functionName: ctx.functionName,
    variantName: ctx.variantName,
    modelName: model.name,
    providerName: provider.name,
    providerType: provider.type,
    outcome,
    kind: attemptKind(ctx, routingIndex),
    durationMs: performance.now() - started,
    message
  })
}

function attemptKind (ctx: CallContext, routingIndex: number): AttemptKind {
  if (routingIndex > 0) return 'provider_fallback'
  if ((ctx.retryIndex ?? 0) > 0) return 'retry'
  if ((ctx.variantIndex ?? 0) > 0) return 'variant_fallback'
  return 'first'
}
