// The contracts of a provider call. An adapter is a pure translator between the internal representation and one
// wire format; a transport moves the translated request and its answer (`http/transport.ts` over HTTP, `dummy/`
// in-process). The model walk applies `extra_body`/`extra_headers` between the two, so adapters never do.
import type { ModelRequest, ProviderResponse, StreamDelta, EmbeddingRequest, EmbeddingResponse, AudioRequest, FormPart } from '../core/types.ts'
import type { ProviderConfig } from '../core/config.ts'
import type { ProviderError } from '../core/errors.ts'

/** What an adapter builds: the body still an object, so `extra_body` can patch it before it is serialised. */
export interface ProviderRequest {
  url: string
  headers: Record<string, string>
  body: Record<string, unknown>
}

/** An audio request as an adapter builds it: a JSON object (speech) or a multipart form (transcription, translation). */
export interface AudioProviderRequest {
  url: string
  headers: Record<string, string>
  body: Record<string, unknown> | FormPart[]
}

/** What the HTTP transport sends for an audio call: JSON text, or a form it encodes as multipart. */
export interface AudioRequestSpec {
  url: string
  method: 'POST'
  headers: Record<string, string>
  body: string | FormPart[]
}

/** What a transport sends. */
export interface HttpRequestSpec {
  url: string
  method: 'POST'
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
  /** Model (a `[models.*]` key or a shorthand such as `openai::gpt-4o`) the provider belongs to, to match `model_name` filters. */
  modelName?: string
}

/** One server-sent event as the transport's incremental parser yields it. */
export interface SseEvent { event?: string; data: string }

/**
 * What `parseStreamEvent` returns for an event that makes no chunk, as TensorZero's provider yields none for it
 * (Anthropic's `ping`, `content_block_stop`): stored with the stream's raw response, but no delta and no raw chunk.
 */
export const NO_CHUNK: StreamDelta = Object.freeze({})

export type ResponseHeaders = Record<string, string | string[] | undefined>

/**
 * One wire format. `S` is the state the adapter keeps across the events of one stream. Parsers receive the request
 * the answer is for, so nothing about it has to be remembered between building and parsing.
 */
export interface ProviderAdapter<S = unknown> {
  buildRequest (req: ModelRequest, ctx: ProviderContext): ProviderRequest
  parseResponse (body: string, req: ModelRequest, ctx: ProviderContext): ProviderResponse
  newStreamState (req: ModelRequest, ctx: ProviderContext): S
  /** Translate one SSE event. Returns null at the provider's end-of-stream marker (`[DONE]`), `NO_CHUNK` for an event that makes no chunk. */
  parseStreamEvent (event: SseEvent, state: S, req: ModelRequest, ctx: ProviderContext): StreamDelta | null
  /** Turn a non-2xx answer into a classified error with a message naming the provider's own reason. */
  classifyError (status: number, body: string, headers: ResponseHeaders): ProviderError
  buildEmbeddingRequest? (req: EmbeddingRequest, ctx: ProviderContext): ProviderRequest
  parseEmbeddingResponse? (body: string, ctx: ProviderContext): EmbeddingResponse
  /** OpenAI's audio API (`/audio/transcriptions`, `/audio/translations`, `/audio/speech`); the answer goes back as it is. */
  buildAudioRequest? (req: AudioRequest, ctx: ProviderContext): AudioProviderRequest
}

export interface HttpAnswer {
  status: number
  headers: ResponseHeaders
  body: string
}

export interface HttpStreamAnswer {
  status: number
  headers: ResponseHeaders
  /** Present for 2xx answers. */
  events?: AsyncIterable<SseEvent>
  /** Present for non-2xx answers: the whole error body. */
  body?: string
}

export interface HttpBodyAnswer {
  status: number
  headers: ResponseHeaders
  /** Present for 2xx answers: the body as it arrives. */
  body?: AsyncIterable<Buffer>
  /** Present for non-2xx answers: the start of the error body. */
  errorBody?: string
  /** Drops the connection (an answer abandoned before its end). */
  destroy (): void
}

/** Moves one request and its answer. Rejects when no answer came (connection failure, abort) or, in-process, when the fake upstream fails as asked. */
export interface ProviderTransport {
  request (spec: HttpRequestSpec, signal: AbortSignal): Promise<HttpAnswer>
  stream (spec: HttpRequestSpec, signal: AbortSignal): Promise<HttpStreamAnswer>
}
