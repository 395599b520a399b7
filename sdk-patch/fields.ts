// Typed access to TensorZero's `tensorzero::` request fields and to the ids a sidecar puts in its answers.
//
// The openai SDK's param types do not know `tensorzero::…` keys, and an object literal with an unknown key is a type
// error. Spread properties are not checked for excess keys, so `{ model, messages, ...tensorzero({ tags }) }` type-checks
// on every openai major while the SDK's overloads (stream: true → Stream) still see the literal.
import { isEpisodeId, UUID_TEXT } from './episode.ts'

/** TensorZero's cache options (`tensorzero::cache_options`). */
export interface TensorZeroCacheOptions {
  enabled: 'on' | 'off' | 'read_only' | 'write_only'
  max_age_s?: number | null
}

/** Per-request inference parameters that override the variant's (`tensorzero::params`). */
export interface TensorZeroParams {
  chat_completion?: {
    temperature?: number
    max_tokens?: number
    seed?: number
    top_p?: number
    presence_penalty?: number
    frequency_penalty?: number
    stop_sequences?: string[]
    json_mode?: 'off' | 'on' | 'strict' | 'tool'
    [key: string]: unknown
  }
}

/** The `tensorzero::` body fields a sidecar (or a TensorZero gateway) reads, as the SDK will serialise them. */
export interface TensorZeroExtraBody {
  'tensorzero::episode_id'?: string
  'tensorzero::variant_name'?: string
  'tensorzero::tags'?: Record<string, string>
  'tensorzero::dryrun'?: boolean
  'tensorzero::params'?: TensorZeroParams
  'tensorzero::credentials'?: Record<string, string>
  'tensorzero::cache_options'?: TensorZeroCacheOptions
  'tensorzero::extra_body'?: unknown[]
  'tensorzero::extra_headers'?: unknown[]
  'tensorzero::include_raw_usage'?: boolean
  'tensorzero::deny_unknown_fields'?: boolean
}

/** A request body of the SDK (`P`) with TensorZero fields, for bodies built in a variable before the call. */
export type WithTensorZero<P> = P & TensorZeroExtraBody

/** Friendly names for `tensorzero()`. */
export interface TensorZeroOptions {
  /** Joins this call to an episode (a UUIDv7). Usually left out: the patched client adds the scope's id. */
  episodeId?: string
  /** Pins a variant of the function (no fallback). A 400 with a `tensorzero::model_name::` target. */
  variantName?: string
  /** Stored with the inference; keys must not start with `tensorzero::`. */
  tags?: Record<string, string>
  /** Run the inference but store nothing. */
  dryrun?: boolean
  params?: TensorZeroParams
  /** Values for `dynamic::NAME` key locations. */
  credentials?: Record<string, string>
  cacheOptions?: TensorZeroCacheOptions
  extraBody?: unknown[]
  extraHeaders?: unknown[]
  includeRawUsage?: boolean
  denyUnknownFields?: boolean
}

const FIELD_OF: Record<keyof TensorZeroOptions, keyof TensorZeroExtraBody> = {
  episodeId: 'tensorzero::episode_id',
  variantName: 'tensorzero::variant_name',
  tags: 'tensorzero::tags',
  dryrun: 'tensorzero::dryrun',
  params: 'tensorzero::params',
  credentials: 'tensorzero::credentials',
  cacheOptions: 'tensorzero::cache_options',
  extraBody: 'tensorzero::extra_body',
  extraHeaders: 'tensorzero::extra_headers',
  includeRawUsage: 'tensorzero::include_raw_usage',
  denyUnknownFields: 'tensorzero::deny_unknown_fields'
}

/**
 * The `tensorzero::` fields for a request body, to spread into the SDK call:
 * `client.chat.completions.create({ model, messages, ...tensorzero({ tags: { user: 'u1' }, variantName: 'local' }) })`.
 * Checks what the sidecar would reject (a non-UUIDv7 episode id, reserved tag keys, non-string tag values) at once.
 */
export function tensorzero (opts: TensorZeroOptions): TensorZeroExtraBody {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(opts) as Array<[keyof TensorZeroOptions, unknown]>) {
    const field = FIELD_OF[key]
    if (field === undefined) throw new TypeError(`tensorzero(): unknown option \`${String(key)}\``)
    if (value === undefined) continue
    out[field] = value
  }
  if (opts.episodeId !== undefined && !isEpisodeId(opts.episodeId)) {
    throw new TypeError(`tensorzero(): episodeId must be a UUIDv7, got ${JSON.stringify(opts.episodeId)}`)
  }
  for (const [k, v] of Object.entries(opts.tags ?? {})) {
    if (k.startsWith('tensorzero::')) throw new TypeError(`tensorzero(): tag keys must not start with \`tensorzero::\` (got \`${k}\`)`)
    if (typeof v !== 'string') throw new TypeError(`tensorzero(): tag \`${k}\` must be a string`)
  }
  return out as TensorZeroExtraBody
}

// ---------- reading ids back ----------


interface HeaderBag { get (name: string): string | null }
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null
const headersOf = (x: unknown): HeaderBag | undefined => {
  if (!isObject(x)) return undefined
  const h = x.headers
  return isObject(h) && typeof h.get === 'function' ? h as unknown as HeaderBag : undefined
}

/** What a sidecar said about an inference: from a completion, a stream chunk, a `Response`, or `.withResponse()`. */
export interface TensorZeroIds { episodeId?: string; inferenceId?: string }

/**
 * Reads the TensorZero ids from what the SDK returned: a chat completion or stream chunk (`episode_id`, `id`), a
 * `Response` from `.asResponse()` (`x-tensorzero-episode-id` / `x-tensorzero-inference-id` headers), or the
 * `{ data, response }` of `.withResponse()`. Fields that are absent (e.g. a passthrough answer) are undefined.
 */
export function tensorzeroIds (result: unknown): TensorZeroIds {
  if (!isObject(result)) return {}
  const ids: TensorZeroIds = {}
  if ('data' in result && 'response' in result) {
    Object.assign(ids, tensorzeroIds(result.data))
    const fromHeaders = tensorzeroIds(result.response)
    ids.episodeId ??= fromHeaders.episodeId
    ids.inferenceId ??= fromHeaders.inferenceId
    return ids
  }
  if (typeof result.episode_id === 'string') {
    ids.episodeId = result.episode_id
    // With `episode_id` present the answer came from TensorZero semantics, where `id` is the inference id.
    if (typeof result.id === 'string' && UUID_TEXT.test(result.id)) ids.inferenceId = result.id
  }
  const headers = headersOf(result)
  if (headers !== undefined) {
    ids.episodeId ??= headers.get('x-tensorzero-episode-id') ?? undefined
    ids.inferenceId ??= headers.get('x-tensorzero-inference-id') ?? undefined
  }
  return ids
}

/** The episode id a sidecar reported for this result (see `tensorzeroIds`). */
export function episodeIdOf (result: unknown): string | undefined {
  return tensorzeroIds(result).episodeId
}

/** The inference id a sidecar reported for this result (see `tensorzeroIds`): what inference-level feedback needs. */
export function inferenceIdOf (result: unknown): string | undefined {
  return tensorzeroIds(result).inferenceId
}
