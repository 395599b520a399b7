// The adapter contract every provider folder implements. Adapters are pure: they translate between the internal
// representation and one provider's wire format and never perform I/O; `src/providers/transport.ts` does the I/O.
import type { ModelRequest, ProviderResponse, StreamDelta, EmbeddingRequest, EmbeddingResponse } from '../core/types.ts'
import type { ProviderConfig } from '../core/config.ts'
import type { ProviderError } from '../core/errors.ts'

export interface HttpRequestSpec {
  url: string
  method: 'POST' | 'GET'
  headers: Record<string, string>
  /** Serialised JSON body, kept as text because it is also stored verbatim as `raw_request`. */
  body: string
}

/** Everything an adapter needs besides the request: the provider's config and its resolved API key. */
export interface ProviderContext {
  provider: ProviderConfig
  apiKey?: string
  /** Variant being served, to match `extraBody`/`extraHeaders` entries filtered by `variantName`. */
  variantName?: string
  /** Model (tensorzero.toml `[models.*]` key) the provider belongs to, to match `tensorzero::model_name::M::provider_name::P` filters. */
  modelName?: string
}

/** One server-sent event as the transport's incremental parser yields it. */
export interface SseEvent { event?: string; data: string }

/** State an adapter keeps across the events of one stream (e.g. Anthropic's content-block indexes). */
export type StreamState = Record<string, unknown>

export interface HttpProviderAdapter {
  kind: 'http'
  /** Provider `type` in tensorzero.toml. */
  type: string
  /** Default `api_base` when the config omits it (undefined: the config must give one). */
  defaultApiBase?: string
  /** Env var holding the key when `api_key_location` is omitted (undefined: no key by default). */
  defaultApiKeyEnv?: string
  buildRequest (req: ModelRequest, ctx: ProviderContext): HttpRequestSpec
  parseResponse (body: string, ctx: ProviderContext): ProviderResponse
  /** Translate one SSE event. Returns null at the provider's end-of-stream marker (`[DONE]`). */
  parseStreamEvent (event: SseEvent, state: StreamState, ctx: ProviderContext): StreamDelta | null
  /** Turn a non-2xx answer into a classified error with a message naming the provider's own reason. */
  classifyError (status: number, body: string, headers: Record<string, string | string[] | undefined>): ProviderError
  buildEmbeddingRequest? (req: EmbeddingRequest, ctx: ProviderContext): HttpRequestSpec
  parseEmbeddingResponse? (body: string, ctx: ProviderContext): EmbeddingResponse
}

/** In-process providers (`dummy`): no wire format, so they answer directly. Still pure with respect to I/O. */
export interface LocalProviderAdapter {
  kind: 'local'
  type: string
  defaultApiBase?: undefined
  defaultApiKeyEnv?: undefined
  infer (req: ModelRequest, ctx: ProviderContext, signal: AbortSignal): Promise<ProviderResponse & { rawRequest: string }>
  stream (req: ModelRequest, ctx: ProviderContext, signal: AbortSignal): { rawRequest: string; deltas: AsyncIterable<StreamDelta> }
  embed? (req: EmbeddingRequest, ctx: ProviderContext, signal: AbortSignal): Promise<EmbeddingResponse & { rawRequest: string }>
}

export type ProviderAdapter = HttpProviderAdapter | LocalProviderAdapter
