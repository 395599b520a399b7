// TensorZero's model inference cache (`tensorzero::cache_options`): the modes, the dry-run rule, the key of one
// provider call, and the interface the model layer reads and writes entries through (the store implements it over
// `ModelInferenceCache`; `gateway.ts` hands it in).
import { createHash } from 'node:crypto'
import type { FinishReason } from './types.ts'

export type CacheMode = 'on' | 'off' | 'read_only' | 'write_only'

export const CACHE_MODES: readonly CacheMode[] = ['on', 'off', 'read_only', 'write_only']

export interface CacheOptions {
  enabled: CacheMode
  /** Only entries at most this old are served; absent: any age. */
  maxAgeS?: number
}

/** A dry run never writes: `on` becomes `read_only`, `write_only` becomes `off` (as TensorZero maps them). */
export function effectiveCacheOptions (options: CacheOptions | undefined, dryrun: boolean): CacheOptions {
  if (options === undefined) return { enabled: 'off' }
  if (!dryrun) return options
  if (options.enabled === 'on') return { ...options, enabled: 'read_only' }
  if (options.enabled === 'write_only') return { ...options, enabled: 'off' }
  return options
}

export const cacheReads = (mode: CacheMode): boolean => mode === 'on' || mode === 'read_only'
export const cacheWrites = (mode: CacheMode): boolean => mode === 'on' || mode === 'write_only'

/** `short`: the first 8 bytes of the hash as a little-endian u64 in decimal (the table's primary key); `long`: all 32, hex. */
export interface CacheKey { short: string; long: string }

/**
 * The key of one provider call: model name, provider name (each NUL-terminated, so the parts cannot run into each
 * other) and the request the model layer sends, as JSON. The sidecar's request shape is not TensorZero's Rust struct,
 * so sidecars share entries with each other, never with a TensorZero gateway.
 */
export function cacheKeyOf (modelName: string, providerName: string, request: unknown): CacheKey {
  const digest = createHash('sha256').update(modelName).update('\0').update(providerName).update('\0').update(JSON.stringify(request)).digest()
  return { short: digest.readBigUInt64LE(0).toString(), long: digest.toString('hex') }
}

/** One stored answer: `output` is JSON text (the output blocks, or a stream's deltas). */
export interface CachedAnswer {
  output: string
  rawRequest: string
  rawResponse: string
  inputTokens?: number
  outputTokens?: number
  finishReason?: FinishReason
}

export interface InferenceCache {
  /** The newest entry for `key` (at most `maxAgeS` old); rejects when the store cannot answer or `signal` aborts. */
  lookup (key: CacheKey, maxAgeS: number | undefined, signal: AbortSignal): Promise<CachedAnswer | undefined>
  /** Queues an entry; never waits on the store. */
  write (key: CacheKey, answer: CachedAnswer): void
}
