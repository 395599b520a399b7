// Model inference: providers strictly in `routing` order; any failure moves on to the next. Chat, streamed chat,
// embeddings and audio (audio.ts) share one walk; what differs (the model's limits, one provider's attempt) is a `Leg`.
// A stream counts as served once its first chunk arrives; failures after that are the caller's to report in-stream.
import { newId } from '../core/ids.ts'
import type { ModelConfig, ProviderConfig } from '../core/config.ts'
import type { ModelRequest, StreamDelta, EmbeddingRequest, Usage } from '../core/types.ts'
import type { ProviderAdapter, ProviderContext, ProviderTransport } from '../providers/adapter.ts'
import type { ModelInferenceRecord } from '../core/records.ts'
import { ProviderError, ModelProvidersFailed } from '../core/errors.ts'
import type { FailedRawResponse } from '../core/errors.ts'
import { providerType, unsupportedTypeMessage } from '../providers/catalog.ts'
import { resolveApiKey } from '../providers/credentials.ts'
import { encodeRequest } from '../providers/http/extra.ts'
import { parsedAnswer, openStream, servesEmbeddings, keptRawAnswer, RawStream } from '../providers/call.ts'
import { deadline, elapsedMs, TimeoutError, type Deadline } from '../core/deadline.ts'
import type { Transport } from '../providers/http/transport.ts'
import type { ModelCallResult, ModelEmbedding, ModelStream } from './results.ts'
import { verdictOf } from './health.ts'
import { costOfAnswer, costOfStream } from './cost.ts'
import { chatTokenEstimate, embeddingTokenEstimate, usageOf } from './rate-limits.ts'
import type { Borrow, RateLimiter } from './rate-limits.ts'
import type { ProviderHealth } from './health.ts'
import { traced, endOnDispose, usageAttributes } from '../core/tracing.ts'
import type { Attributes } from '@opentelemetry/api'
import { reportAttempt, attemptOutcome, type AttemptScope } from './attempts.ts'
import { embedFromCache, inferFromCache, streamFromCache, writingEmbed, writingInfer, writingStream, type CacheContext } from './cache.ts'

export interface CallContext extends AttemptScope {
  transport: Transport
  env: NodeJS.ProcessEnv
  /** `tensorzero::credentials`, for `dynamic::NAME` key locations. */
  credentials?: Record<string, string>
  signal: AbortSignal
  /** The providers' circuits (`[health]`); absent: every provider is always called. */
  health?: ProviderHealth
  /** `[rate_limiting]`: each provider attempt draws from the buckets the request's tags select. */
  rateLimiter?: RateLimiter
  tags?: Record<string, string>
  /** The inference cache and this request's `tensorzero::cache_options`; absent: no cache. */
  cache?: CacheContext
  /** A streamed call's deltas carry each provider event's raw text (`tensorzero::include_raw_response` on a stream). */
  rawChunks?: boolean
  /** A streamed call's deltas carry the provider's usage object where it reported usage (`tensorzero::include_raw_usage`). */
  rawUsage?: boolean
  /** `tensorzero::include_raw_response`: failed attempts' raw answers are kept for the answer or the error body. */
  rawResponses?: boolean
}

/** What one kind of call brings to the walk. */
export interface Leg<Q, R> {
  /** The model-level limit the attempts run under (a stream's: time to first token, inside its total). */
  modelLimit (model: ModelConfig, signal: AbortSignal): Deadline
  attempt (model: ModelConfig, provider: ProviderConfig, req: Q, ctx: CallContext, parent: AbortSignal, started: number): Promise<R>
  /** Takes over the model limit from the walk when the result outlives it (a stream); returns whether it did. */
  adopt (result: R, limit: Deadline): boolean
  /** The inference cache's answer for this provider, asked before anything else of the attempt (absent: no cache). */
  fromCache?: (model: ModelConfig, provider: ProviderConfig, req: Q, ctx: CallContext, parent: AbortSignal) => Promise<R | undefined>
  /**
   * `[rate_limiting]`, for the calls TensorZero limits (chat, streams, embeddings): the request's token estimate, asked
   * only when a token limit applies, and the settling of the attempt's tickets with what the call used (a stream: once
   * it ends). A leg without them (audio: TensorZero has no audio endpoint to follow) is not rate limited.
   */
  limits?: {
    tokenEstimate (req: Q): number
    release (result: R, borrow: Borrow): void
  }
  /** Hands the result the raw answers of the providers that failed before it (`include_raw_response`; audio has none). */
  afterFailures? (result: R, failed: FailedRawResponse[]): void
  /** TensorZero's API type of this kind of call, as its failed attempts' entries name it (absent: `chat_completions`). */
  apiType?: 'embeddings'
}

export async function walk<Q, R> (leg: Leg<Q, R>, model: ModelConfig, req: Q, ctx: CallContext): Promise<R> {
  const errors: Array<{ provider: string; error: Error }> = []
  // Created by the first failed attempt with a raw answer to keep (include_raw_response): most walks have none.
  let failed: FailedRawResponse[] | undefined
  const limit = leg.modelLimit(model, ctx.signal)
  let adopted = false
  try {
    for (let i = 0; i < model.routing.length; i++) {
      const providerName = model.routing[i]
      const provider = model.providers.get(providerName) as ProviderConfig
      const started = performance.now()
      const admission = ctx.health?.admit(provider) ?? 'pass'
      if (admission === 'skip') {
        // A fast failure in the routing order: no call, the walk moves on at once.
        const skipped = new ProviderError(ctx.health?.skipMessage(provider) as string, 'circuit_open')
        reportAttempt(ctx, model, provider, i, 'circuit_open', started, skipped.message)
        errors.push({ provider: providerName, error: skipped })
        continue
      }
      try {
        const result = await leg.fromCache?.(model, provider, req, ctx, limit.signal) ?? await limitedAttempt(leg, model, provider, req, ctx, limit.signal, started)
        limit.stopTimer()
        ctx.health?.settle(model.name, provider, admission, 'success')
        reportAttempt(ctx, model, provider, i, 'ok', started)
        adopted = leg.adopt(result, limit)
        if (failed !== undefined) leg.afterFailures?.(result, failed)
        return result
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err))
        ctx.health?.settle(model.name, provider, admission, verdictOf(error, ctx.signal))
        reportAttempt(ctx, model, provider, i, attemptOutcome(error), started, error.message)
        errors.push({ provider: providerName, error })
        if (ctx.rawResponses === true && error instanceof ProviderError && error.rawResponse !== undefined) {
          (failed ??= []).push({ providerType: provider.type, ...(leg.apiType === undefined ? {} : { apiType: leg.apiType }), data: keptRawAnswer(error.rawResponse) })
        }
        if (ctx.signal.aborted) throw ctx.signal.reason
        if (limit.signal.aborted) throw limit.signal.reason
      }
    }
  } finally {
    if (!adopted) limit.clear()
  }
  throw new ModelProvidersFailed(model.name, errors, failed ?? [])
}

/** One provider attempt under `[rate_limiting]`: tickets taken first, settled with what the call used. */
async function limitedAttempt<Q, R> (leg: Leg<Q, R>, model: ModelConfig, provider: ProviderConfig, req: Q, ctx: CallContext,
  parent: AbortSignal, started: number): Promise<R> {
  const limits = leg.limits
  const borrow = limits === undefined ? undefined : await ctx.rateLimiter?.borrow(ctx.tags ?? {}, () => limits.tokenEstimate(req))
  const result = await leg.attempt(model, provider, req, ctx, parent, started)
  if (borrow !== undefined) limits?.release(result, borrow)
  return result
}

interface Prepared { adapter: ProviderAdapter; transport: ProviderTransport; pctx: ProviderContext }

export function prepare (model: ModelConfig, provider: ProviderConfig, ctx: CallContext): Prepared {
  const facts = providerType(provider.type)
  const adapter = facts?.adapter
  if (adapter === undefined) throw new ProviderError(unsupportedTypeMessage(provider.type), 'unsupported')
  const key = resolveApiKey(provider.keyLocation, ctx.credentials, ctx.env)
  if (!key.ok) throw new ProviderError(key.message, 'credentials')
  return {
    adapter,
    transport: facts?.transport ?? ctx.transport,
    pctx: { provider, apiKey: key.key, variantName: ctx.variantName, modelName: model.name }
  }
}

/** A provider's own limit fired (not an outer one): that TimeoutError is the attempt's error. */
export function ownTimeout (err: unknown, signal: AbortSignal, parent: AbortSignal): unknown {
  return signal.aborted && !parent.aborted ? signal.reason : err
}

// ---- spans: `model_inference` around the walk, `model_provider_inference` around each provider attempt ----

const modelAttributes = (operation: string, stream: boolean) => (model: ModelConfig): Attributes =>
  ({ model_name: model.name, 'gen_ai.operation.name': operation, stream })

const providerAttributes = (stream: boolean) => (model: ModelConfig, provider: ProviderConfig): Attributes => ({
  model_name: model.name,
  model_provider_name: provider.name,
  'gen_ai.operation.name': 'chat',
  'gen_ai.provider.name': provider.type,
  'gen_ai.request.model': provider.modelName,
  stream
})

const keepsNothing = (): boolean => false

type WalkArgs<Q> = [model: ModelConfig, req: Q, ctx: CallContext]
type AttemptArgs = [model: ModelConfig, provider: ProviderConfig, req: ModelRequest, ctx: CallContext, parent: AbortSignal, started: number]

// ---- chat ----

const inferLeg: Leg<ModelRequest, ModelCallResult> = {
  modelLimit: (model, signal) => deadline(signal, model.timeouts.nonStreamingTotalMs, `model \`${model.name}\``),
  fromCache: inferFromCache,
  attempt: writingInfer(traced<AttemptArgs, ModelCallResult>('model_provider_inference', providerAttributes(false),
    async (model: ModelConfig, provider: ProviderConfig, req: ModelRequest, ctx: CallContext, parent: AbortSignal, started: number): Promise<ModelCallResult> => {
      const { adapter, transport, pctx } = prepare(model, provider, ctx)
      const limit = deadline(parent, provider.timeouts.nonStreamingTotalMs, `provider \`${provider.name}\``)
      try {
        const spec = encodeRequest(adapter.buildRequest(req, pctx), req, pctx)
        const parsed = await parsedAnswer(adapter, transport, spec, limit.signal, body => adapter.parseResponse(body, req, pctx))
        // What raw_response keeps; the whole body is not held past the parse (the answer is built from the output).
        const rawResponse = keptRawAnswer(parsed.rawResponse)
        if (provider.cost !== undefined) parsed.usage.cost = costOfAnswer(parsed.rawResponse, provider.cost)
        const response = rawResponse === parsed.rawResponse ? parsed : { ...parsed, rawResponse }
        const record: ModelInferenceRecord = {
          id: newId(),
          modelName: model.name,
          providerName: provider.name,
          providerType: provider.type,
          rawRequest: spec.body,
          rawResponse,
          inputTokens: response.usage.inputTokens,
          outputTokens: response.usage.outputTokens,
          cacheReadInputTokens: response.usage.cacheReadInputTokens,
          cacheWriteInputTokens: response.usage.cacheWriteInputTokens,
          cost: response.usage.cost,
          responseTimeMs: elapsedMs(started),
          request: req,
          output: response.output,
          finishReason: response.finishReason,
          cached: false
        }
        return { response, record }
      } catch (err) {
        throw ownTimeout(err, limit.signal, parent)
      } finally {
        limit.clear()
      }
    },
    (result, span) => { if (span.isRecording()) span.setAttributes(usageAttributes(result.response.usage)); return false })),
  adopt: keepsNothing,
  limits: {
    tokenEstimate: chatTokenEstimate,
    release: (result, borrow) => { borrow.settle(usageOf(result.response.usage)) }
  },
  afterFailures (result, failed) { result.record.failedRawResponses = failed }
}

export const inferModel = traced<WalkArgs<ModelRequest>, ModelCallResult>('model_inference', modelAttributes('chat', false),
  async (model: ModelConfig, req: ModelRequest, ctx: CallContext): Promise<ModelCallResult> => await walk(inferLeg, model, req, ctx))

// ---- streamed chat ----

const streamLeg: Leg<ModelRequest, ModelStream> = {
  modelLimit (model, signal) {
    const total = deadline(signal, model.timeouts.streamingTotalMs, `model \`${model.name}\` stream`)
    const ttft = deadline(total.signal, model.timeouts.streamingTtftMs, `model \`${model.name}\` time to first token`)
    if (model.timeouts.streamingTotalMs === undefined) return ttft
    return { signal: ttft.signal, stopTimer: () => { ttft.stopTimer() }, clear: () => { ttft.clear(); total.clear() } }
  },
  fromCache: streamFromCache,
  attempt: writingStream(traced<AttemptArgs, ModelStream>('model_provider_inference', providerAttributes(true),
    async (model: ModelConfig, provider: ProviderConfig, req: ModelRequest, ctx: CallContext, parent: AbortSignal, started: number): Promise<ModelStream> => {
      const { adapter, transport, pctx } = prepare(model, provider, ctx)
      const total = deadline(parent, provider.timeouts.streamingTotalMs, `provider \`${provider.name}\` stream`)
      const ttft = deadline(total.signal, provider.timeouts.streamingTtftMs, `provider \`${provider.name}\` time to first token`)
      const signal = ttft.signal
      // The row's id is known from the start: raw usage on the chunks names it.
      const id = newId()
      const rawChunks = new RawStream(ctx.rawChunks === true, ctx.rawUsage === true ? { modelInferenceId: id, providerType: provider.type } : undefined)
      try {
        const spec = encodeRequest(adapter.buildRequest(req, pctx), req, pctx)
        const deltas = await openStream(adapter, transport, spec, req, pctx, signal, rawChunks)
        const first = await deltas.next()
        if (first.done === true) throw new ProviderError(`provider \`${provider.name}\` ended its stream before the first chunk`, 'bad_response')
        ttft.stopTimer()
        const ttftMs = elapsedMs(started)
        return {
          providerName: provider.name,
          providerType: provider.type,
          first: first.value,
          rest: timeoutAware(deltas, signal, parent),
          finish (collector) {
            // The priced usage belongs to the collector too: the client's final usage chunk reports it.
            if (provider.cost !== undefined) collector.usage.cost = costOfStream(rawChunks.events(), provider.cost)
            return {
              id,
              modelName: model.name,
              providerName: provider.name,
              providerType: provider.type,
              rawRequest: spec.body,
              rawResponse: rawChunks.kept.join('\n'),
              inputTokens: collector.usage.inputTokens,
              outputTokens: collector.usage.outputTokens,
              cacheReadInputTokens: collector.usage.cacheReadInputTokens,
              cacheWriteInputTokens: collector.usage.cacheWriteInputTokens,
              cost: collector.usage.cost,
              responseTimeMs: elapsedMs(started),
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
        throw ownTimeout(err, signal, parent)
      }
    },
    (stream, span) => {
      const finish = stream.finish
      stream.finish = collector => {
        const record = finish(collector)
        if (span.isRecording()) span.setAttributes(usageAttributes(record))
        return record
      }
      return endOnDispose(stream, span)
    })),
  adopt (stream, limit) {
    const innerDispose = stream.dispose
    stream.dispose = () => { innerDispose(); limit.clear() }
    return true
  },
  limits: {
    tokenEstimate: chatTokenEstimate,
    release (stream, borrow) {
      // Exact only for a stream that ended well with its usage; one cut short gives nothing back.
      let usage: Usage | undefined
      const { finish, dispose } = stream
      stream.finish = collector => { const record = finish(collector); usage = collector.usage; return record }
      stream.dispose = () => { dispose(); borrow.settle(usageOf(usage)) }
    }
  },
  afterFailures (stream, failed) { stream.failedRawResponses = failed }
}

/** Start a stream on the first provider, in routing order, that yields a first chunk. */
export const streamModel = traced<WalkArgs<ModelRequest>, ModelStream>('model_inference', modelAttributes('chat', true),
  async (model: ModelConfig, req: ModelRequest, ctx: CallContext): Promise<ModelStream> => await walk(streamLeg, model, req, ctx),
  endOnDispose)

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

// ---- embeddings: the same walk, no streams, no spans per provider ----

const embedLeg: Leg<EmbeddingRequest, ModelEmbedding> = {
  modelLimit: (model, signal) => deadline(signal, model.timeouts.nonStreamingTotalMs, `embedding model \`${model.name}\``),
  fromCache: embedFromCache,
  attempt: writingEmbed(async (model, provider, req, ctx, parent) => {
    const limit = deadline(parent, provider.timeouts.nonStreamingTotalMs, `provider \`${provider.name}\``)
    try {
      const { adapter, transport, pctx } = prepare(model, provider, ctx)
      if (!servesEmbeddings(adapter)) throw new ProviderError(`provider type \`${provider.type}\` does not serve embeddings`, 'unsupported')
      const spec = encodeRequest(adapter.buildEmbeddingRequest(req, pctx), undefined, pctx)
      const embedding = await parsedAnswer(adapter, transport, spec, limit.signal, body => adapter.parseEmbeddingResponse(body, pctx))
      return { ...embedding, rawRequest: spec.body, providerName: provider.name }
    } catch (err) {
      throw ownTimeout(err, limit.signal, parent)
    } finally {
      limit.clear()
    }
  }),
  adopt: keepsNothing,
  limits: {
    tokenEstimate: embeddingTokenEstimate,
    release: (result, borrow) => { borrow.settle(usageOf(result.usage)) }
  },
  afterFailures (result, failed) { result.failedRawResponses = failed },
  apiType: 'embeddings'
}

export const embedModel = traced<WalkArgs<EmbeddingRequest>, ModelEmbedding>('model_inference', modelAttributes('embeddings', false),
  async (model: ModelConfig, req: EmbeddingRequest, ctx: CallContext): Promise<ModelEmbedding> => await walk(embedLeg, model, req, ctx),
  (result, span) => { if (span.isRecording()) span.setAttributes({ model_provider_name: result.providerName, ...usageAttributes(result.usage) }); return false })
