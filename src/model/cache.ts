// The inference cache around one provider attempt, where TensorZero has it: looked up first (inside the model's time
// limit, before rate-limit tickets are taken and the provider is called), written after a fresh answer. A lookup that is slow or fails is a miss: it
// never fails the request and never waits past `lookupTimeoutMs`. Streams are cached as their deltas and replayed.
import { newId } from '../core/ids.ts'
import type { ModelConfig, ProviderConfig } from '../core/config.ts'
import type { EmbeddingRequest, ModelRequest, OutputBlock, StreamDelta } from '../core/types.ts'
import type { ModelInferenceRecord } from '../core/records.ts'
import { cacheKeyOf, cacheReads, cacheWrites } from '../core/cache.ts'
import type { CachedAnswer, CacheKey, CacheOptions, InferenceCache } from '../core/cache.ts'
import type { StreamCollector } from './stream.ts'
import type { ModelCallResult, ModelEmbedding, ModelStream } from './results.ts'

export interface CacheContext {
  store: InferenceCache
  options: CacheOptions
  lookupTimeoutMs: number
}

/** Characters of streamed deltas collected for the cache; a longer stream is served, not cached. */
const MAX_CACHED_STREAM_CHARS = 4 * 1024 * 1024

// The shape of route.ts's attempts, restated so this file and the walk do not import each other.
interface CallWithCache { cache?: CacheContext }
type Attempt<C extends CallWithCache, R> = (model: ModelConfig, provider: ProviderConfig, req: ModelRequest, ctx: C, parent: AbortSignal, started: number) => Promise<R>

/** The lookup, bounded: a miss when the store is slow, fails, or the request is aborted. */
async function lookup (cache: CacheContext, key: CacheKey, parent: AbortSignal): Promise<CachedAnswer | undefined> {
  const bound = AbortSignal.any([parent, AbortSignal.timeout(cache.lookupTimeoutMs)])
  let onAbort: (() => void) | undefined
  const gaveUp = new Promise<undefined>(resolve => {
    onAbort = () => { resolve(undefined) }
    bound.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([cache.store.lookup(key, cache.options.maxAgeS, bound).catch(() => undefined), gaveUp])
  } finally {
    if (onAbort !== undefined) bound.removeEventListener('abort', onAbort)
  }
}

function parsedArray<T> (text: string): T[] | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return Array.isArray(value) && value.length > 0 ? value as T[] : undefined
  } catch { return undefined }
}

/** A cached answer's row: as TensorZero records one (tokens as stored, no latency, no cost). */
function cachedRecord (model: ModelConfig, provider: ProviderConfig, req: ModelRequest, hit: CachedAnswer, output: OutputBlock[]): ModelInferenceRecord {
  return {
    id: newId(),
    modelName: model.name,
    providerName: provider.name,
    providerType: provider.type,
    rawRequest: hit.rawRequest,
    rawResponse: hit.rawResponse,
    inputTokens: hit.inputTokens,
    outputTokens: hit.outputTokens,
    cost: 0,
    responseTimeMs: 0,
    request: req,
    output,
    finishReason: hit.finishReason,
    cached: true
  }
}

/** Tool calls whose arguments are not JSON are not worth replaying (TensorZero skips writing those entries too). */
function cacheable (output: OutputBlock[]): boolean {
  return output.every(b => {
    if (b.type !== 'tool_call') return true
    try { JSON.parse(b.arguments); return true } catch { return false }
  })
}

/**
 * A cached answer for the chat leg, looked up before anything else of the attempt (rate-limit tickets included, as in
 * TensorZero). The client's usage of a cached answer is zero, as in TensorZero.
 */
export async function inferFromCache (model: ModelConfig, provider: ProviderConfig, req: ModelRequest, ctx: CallWithCache,
  parent: AbortSignal): Promise<ModelCallResult | undefined> {
  const found = await stored<OutputBlock>(model, provider, req, ctx, parent)
  if (found === undefined) return undefined
  const { hit, items: output } = found
  const response = { output, usage: { inputTokens: 0, outputTokens: 0, cost: 0 }, finishReason: hit.finishReason, rawResponse: hit.rawResponse }
  return { response, record: cachedRecord(model, provider, req, hit, output) }
}

/** The chat leg's attempt, its fresh answer written to the cache when the request's mode writes. */
export function writingInfer<C extends CallWithCache> (attempt: Attempt<C, ModelCallResult>): Attempt<C, ModelCallResult> {
  return async (model, provider, req, ctx, parent, started) => {
    const result = await attempt(model, provider, req, ctx, parent, started)
    const cache = activeCache(ctx)
    const { record } = result
    if (cache !== undefined && cacheWrites(cache.options.enabled) && cacheable(record.output)) {
      cache.store.write(cacheKeyOf(model.name, provider.name, req), entryOf(record, record.output, record.rawResponse))
    }
    return result
  }
}

/** A cached stream for the stream leg: the stored deltas replayed. */
export async function streamFromCache (model: ModelConfig, provider: ProviderConfig, req: ModelRequest, ctx: CallWithCache,
  parent: AbortSignal): Promise<ModelStream | undefined> {
  const found = await stored<StreamDelta>(model, provider, req, ctx, parent)
  return found === undefined ? undefined : replay(model, provider, req, found.hit, found.items)
}

/** The entry for this provider call when the request's mode reads, with its `output` parsed (unreadable: a miss). */
async function stored<T> (model: ModelConfig, provider: ProviderConfig, req: ModelRequest, ctx: CallWithCache,
  parent: AbortSignal): Promise<{ hit: CachedAnswer; items: T[] } | undefined> {
  const cache = activeCache(ctx)
  if (cache === undefined || !cacheReads(cache.options.enabled)) return undefined
  const hit = await lookup(cache, cacheKeyOf(model.name, provider.name, req), parent)
  const items = hit === undefined ? undefined : parsedArray<T>(hit.output)
  return hit === undefined || items === undefined ? undefined : { hit, items }
}

/** What is stored of a fresh call: its row's request, answer and usage, and `output` (blocks, or a stream's deltas). */
function entryOf (record: ModelInferenceRecord, output: unknown[], rawResponse: string): CachedAnswer {
  return {
    output: JSON.stringify(output),
    rawRequest: record.rawRequest,
    rawResponse,
    inputTokens: record.inputTokens,
    outputTokens: record.outputTokens,
    finishReason: record.finishReason
  }
}

/** The stream leg's attempt, its deltas collected and written to the cache once it ended well. */
export function writingStream<C extends CallWithCache> (attempt: Attempt<C, ModelStream>): Attempt<C, ModelStream> {
  return async (model, provider, req, ctx, parent, started) => {
    const stream = await attempt(model, provider, req, ctx, parent, started)
    const cache = activeCache(ctx)
    return cache !== undefined && cacheWrites(cache.options.enabled) ? collected(stream, cache, cacheKeyOf(model.name, provider.name, req)) : stream
  }
}

function activeCache (ctx: CallWithCache): CacheContext | undefined {
  return ctx.cache === undefined || ctx.cache.options.enabled === 'off' ? undefined : ctx.cache
}

/** Stored deltas as a stream: usage is taken out (the client's is zero), the finish reason goes on the last one. */
function replay (model: ModelConfig, provider: ProviderConfig, req: ModelRequest, hit: CachedAnswer, stored: StreamDelta[]): ModelStream {
  const deltas = stored.map(({ usage: _usage, finishReason: _finish, ...delta }): StreamDelta => delta)
  const last = deltas[deltas.length - 1]
  last.usage = { inputTokens: 0, outputTokens: 0, cost: 0 }
  if (hit.finishReason !== undefined) last.finishReason = hit.finishReason
  let next = 1
  return {
    providerName: provider.name,
    providerType: provider.type,
    first: deltas[0],
    rest: {
      next: async () => next < deltas.length ? { done: false, value: deltas[next++] } : { done: true, value: undefined },
      return: async () => { next = deltas.length; return { done: true, value: undefined } }
    },
    finish: (collector: StreamCollector) => cachedRecord(model, provider, req, hit, collector.output()),
    dispose () {}
  }
}

/** A cached answer made no provider call, so it replays no raw chunks (as in TensorZero): they are not stored. */
function withoutRaw (delta: StreamDelta): StreamDelta {
  if (delta.raw === undefined && delta.rawUsage === undefined) return delta
  const { raw: _raw, rawUsage: _rawUsage, ...rest } = delta
  return rest
}

/** A fresh stream whose deltas are kept (up to a bound) and written to the cache once it ended well. */
function collected (stream: ModelStream, cache: CacheContext, key: CacheKey): ModelStream {
  const kept: StreamDelta[] = [withoutRaw(stream.first)]
  let chars = JSON.stringify(kept[0]).length
  const rest = stream.rest
  const finish = stream.finish
  return {
    ...stream,
    rest: {
      next: async () => {
        const step = await rest.next()
        if (step.done !== true && chars <= MAX_CACHED_STREAM_CHARS) {
          const delta = withoutRaw(step.value)
          chars += JSON.stringify(delta).length
          kept.push(delta)
        }
        return step
      },
      return: async () => { await rest.return?.(); return { done: true, value: undefined } }
    },
    finish (collector) {
      const record = finish(collector)
      // A stream's raw answer is its chunks, already in the deltas' place: TensorZero stores it empty too.
      if (chars <= MAX_CACHED_STREAM_CHARS && cacheable(record.output)) cache.store.write(key, entryOf(record, kept, ''))
      return record
    }
  }
}

/** An embedding call's key: its model, provider and request (input, dimensions, encoding format). */
function embeddingKey (model: ModelConfig, provider: ProviderConfig, req: EmbeddingRequest): CacheKey {
  return cacheKeyOf(model.name, provider.name, req)
}

/** A cached embedding for the embedding leg; the client's usage of it is zero, as for chat. */
export async function embedFromCache (model: ModelConfig, provider: ProviderConfig, req: EmbeddingRequest, ctx: CallWithCache,
  parent: AbortSignal): Promise<ModelEmbedding | undefined> {
  const cache = activeCache(ctx)
  if (cache === undefined || !cacheReads(cache.options.enabled)) return undefined
  const hit = await lookup(cache, embeddingKey(model, provider, req), parent)
  const embeddings = hit === undefined ? undefined : parsedArray<number[]>(hit.output)
  if (hit === undefined || embeddings === undefined) return undefined
  return { embeddings, usage: { inputTokens: 0 }, rawResponse: hit.rawResponse, rawRequest: hit.rawRequest, providerName: provider.name }
}

/** The embedding leg's attempt, its fresh vectors written to the cache when the request's mode writes. */
export function writingEmbed<C extends CallWithCache> (attempt: (model: ModelConfig, provider: ProviderConfig, req: EmbeddingRequest, ctx: C,
  parent: AbortSignal, started: number) => Promise<ModelEmbedding>): typeof attempt {
  return async (model, provider, req, ctx, parent, started) => {
    const result = await attempt(model, provider, req, ctx, parent, started)
    const cache = activeCache(ctx)
    if (cache !== undefined && cacheWrites(cache.options.enabled)) {
      cache.store.write(embeddingKey(model, provider, req), {
        output: JSON.stringify(result.embeddings), rawRequest: result.rawRequest, rawResponse: result.rawResponse, inputTokens: result.usage.inputTokens
      })
    }
    return result
  }
}
