// patchOpenAI: episode ids on every inference call and `client.feedback`, by overriding the two hooks the openai
// client (v5–v7) calls on each attempt: `prepareOptions(options)` (body still an object) and
// `prepareRequest(req, {url, options})` (headers built). Only the instance is touched: no Proxy (it breaks
// `.withResponse()`), no prototype patching (other clients stay as they are).
import { v7 as uuidv7 } from 'uuid'
import { currentEpisodeId } from './episode.ts'
import { feedbackBody } from './feedback.ts'
import type { FeedbackRequest, FeedbackRequestOptions, FeedbackResponse } from './feedback.ts'
import { checkEmbeddedOptions, startEmbeddedGateway } from './embedded.ts'
import type { EmbeddedGateway, EmbeddedOptions } from './embedded.ts'

export const SUPPORTED_MAJORS = [5, 6, 7] as const

/** The part of an `openai` client `patchOpenAI` needs to see in the types; every `OpenAI` v5–v7 instance has it. */
export interface OpenAIClientLike {
  baseURL: string
  post (path: string, opts?: any): PromiseLike<unknown>
}

export interface PatchOptions {
  /** Run the gateway inside this process instead of calling a sidecar at the client's baseURL. */
  embedded?: EmbeddedOptions
}

/** `client.tensorzero`: what the patch added besides `feedback`. */
export interface TensorZeroHandle {
  /** The openai major of the patched client. */
  readonly sdkMajor: number
  /** True when the gateway runs in this process. */
  readonly embedded: boolean
  /** Resolves once requests can be served (embedded: config loaded, server listening); rejects on a config error. */
  ready (): Promise<void>
  /** Embedded: stops the in-process gateway (drains in-flight requests, flushes rows). Otherwise nothing to release. */
  close (): Promise<void>
}

export interface TensorZeroClientExtras {
  /** POST /feedback to the sidecar (or the embedded gateway); returns `{ feedback_id }`. */
  feedback (request: FeedbackRequest, options?: FeedbackRequestOptions): Promise<FeedbackResponse>
  readonly tensorzero: TensorZeroHandle
}

export type PatchedOpenAI<C> = C & TensorZeroClientExtras

/** Thrown for a client that cannot be patched: unsupported major, already patched, not an openai client. */
export class PatchError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'PatchError'
  }
}

// ---------- internals of the SDK we rely on (present and public at runtime in v5, v6 and v7) ----------

interface SdkOptions {
  method?: string
  path?: string
  body?: unknown
  headers?: unknown
  [key: string]: unknown
}
interface SdkRequest { headers?: unknown }
type PrepareOptions = (this: SdkClient, options: SdkOptions) => Promise<void>
type PrepareRequest = (this: SdkClient, request: SdkRequest, ctx: { url: string; options: SdkOptions }) => Promise<void>
interface SdkClient {
  baseURL: string
  post (path: string, opts?: unknown): Promise<unknown>
  prepareOptions: PrepareOptions
  prepareRequest: PrepareRequest
  getUserAgent?: () => string
  withOptions?: (options: unknown) => SdkClient
  _options?: { defaultHeaders?: unknown }
}

const PATCHED = Symbol.for('tz-sidecar.sdk-patch.patched')
const EPISODE_FIELD = 'tensorzero::episode_id'
const EPISODE_HEADER = 'x-tensorzero-episode-id'
const INFERENCE_PATHS = new Set(['/chat/completions', '/completions', '/responses', '/embeddings'])

/** The episode id given to each request's options object; an SDK retry reuses the object, so it reuses the id. */
const episodeOfOptions = new WeakMap<object, string>()

/** What a client and the clients `withOptions` derives from it share. */
interface Family {
  embedded?: Promise<EmbeddedGateway>
  handle: TensorZeroHandle
}

/**
 * Patches `client` in place and returns it: every chat completions, completions, responses and embeddings call carries
 * the current episode id (body `tensorzero::episode_id` and header `x-tensorzero-episode-id`) unless the call set one,
 * and `client.feedback(...)` posts to the sidecar. With `{ embedded }`, the gateway runs in this process.
 */
export function patchOpenAI<C extends OpenAIClientLike> (client: C, opts: PatchOptions = {}): PatchedOpenAI<C> {
  const sdk = client as unknown as SdkClient
  const major = checkPatchable(sdk)
  let embedded: Promise<EmbeddedGateway> | undefined
  if (opts.embedded !== undefined) {
    checkEmbeddedOptions(opts.embedded)
    embedded = startEmbeddedGateway(opts.embedded)
    // Nobody may await it before the first request: keep a failed start from being an unhandled rejection.
    embedded.catch(() => {})
  }
  let closed = false
  const family: Family = {
    embedded,
    handle: {
      sdkMajor: major,
      embedded: embedded !== undefined,
      ready: async () => { if (embedded !== undefined) await embedded },
      close: async () => {
        closed = true
        if (embedded === undefined) return
        let gateway: EmbeddedGateway
        try { gateway = await embedded } catch { return }
        await gateway.close()
      }
    }
  }
  install(sdk, family, () => closed)
  return client as PatchedOpenAI<C>
}

function checkPatchable (sdk: SdkClient): number {
  if (typeof sdk !== 'object' || sdk === null || typeof sdk.prepareOptions !== 'function' ||
    typeof sdk.prepareRequest !== 'function' || typeof sdk.post !== 'function') {
    throw new PatchError('patchOpenAI: expected an OpenAI client from the `openai` package (v5, v6 or v7)')
  }
  if (Object.hasOwn(sdk, PATCHED)) throw new PatchError('patchOpenAI: this client is already patched (patch each client once)')
  const agent = typeof sdk.getUserAgent === 'function' ? sdk.getUserAgent() : ''
  const m = /\/JS (\d+)\.(\d+)\.(\d+)/.exec(agent)
  if (m === null) throw new PatchError(`patchOpenAI: cannot tell the openai package version of this client (user agent \`${agent}\`); supported: openai >=5 <8`)
  const major = Number(m[1])
  if (!(SUPPORTED_MAJORS as readonly number[]).includes(major)) {
    throw new PatchError(`patchOpenAI: openai ${m[1]}.${m[2]}.${m[3]} is not supported; supported: openai >=5 <8 (install openai@7)`)
  }
  return major
}

function install (sdk: SdkClient, family: Family, isClosed: () => boolean): void {
  const originalPrepareOptions = sdk.prepareOptions
  const originalPrepareRequest = sdk.prepareRequest
  const originalWithOptions = sdk.withOptions
  let embeddedAuthorization: string | undefined

  const prepareOptions: PrepareOptions = async function (options) {
    await originalPrepareOptions.call(this, options)
    if (family.embedded !== undefined) {
      if (isClosed()) throw new PatchError('patchOpenAI: the embedded gateway of this client was closed')
      const gateway = await family.embedded
      this.baseURL = gateway.baseURL
      embeddedAuthorization = gateway.authorization
    }
    if (!isInferenceCall(options)) return
    let id = episodeOfOptions.get(options)
    if (id === undefined) {
      const body = options.body as Record<string, unknown>
      const given = body[EPISODE_FIELD]
      id = typeof given === 'string'
        ? given
        : headerValue(options.headers, EPISODE_HEADER) ?? headerValue(this._options?.defaultHeaders, EPISODE_HEADER) ??
          currentEpisodeId() ?? uuidv7()
      episodeOfOptions.set(options, id)
    }
    const body = options.body as Record<string, unknown>
    // A copy: the caller's params object may be reused for another call (which must get its own id).
    if (body[EPISODE_FIELD] !== id) options.body = { ...body, [EPISODE_FIELD]: id }
  }

  const prepareRequest: PrepareRequest = async function (request, ctx) {
    await originalPrepareRequest.call(this, request, ctx)
    if (embeddedAuthorization !== undefined) setHeader(request, 'authorization', embeddedAuthorization)
    const id = episodeOfOptions.get(ctx.options) ?? bodyEpisodeId(ctx.options)
    if (id !== undefined) setHeader(request, EPISODE_HEADER, id)
  }

  // Bound to this client (works when destructured). Returns the SDK's APIPromise: `.withResponse()` works on it too.
  const feedback = (request: FeedbackRequest, options?: FeedbackRequestOptions): Promise<FeedbackResponse> => {
    let body: Record<string, unknown>
    try { body = feedbackBody(request) } catch (err) { return Promise.reject(err) }
    return sdk.post('/feedback', { ...options, body }) as Promise<FeedbackResponse>
  }

  define(sdk, PATCHED, true)
  define(sdk, 'prepareOptions', prepareOptions)
  define(sdk, 'prepareRequest', prepareRequest)
  define(sdk, 'feedback', feedback)
  define(sdk, 'tensorzero', family.handle)
  if (typeof originalWithOptions === 'function') {
    // `withOptions` builds a new client: patch it too, sharing episodes, the embedded gateway and `close`.
    define(sdk, 'withOptions', function (this: SdkClient, options: unknown): SdkClient {
      const derived = originalWithOptions.call(this, options)
      if (!Object.hasOwn(derived, PATCHED)) install(derived, family, isClosed)
      return derived
    })
  }
}

function define (target: object, key: PropertyKey, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: false })
}

function isInferenceCall (options: SdkOptions): boolean {
  if (typeof options.method !== 'string' || options.method.toLowerCase() !== 'post') return false
  if (typeof options.path !== 'string' || !INFERENCE_PATHS.has(options.path)) return false
  const body = options.body
  return typeof body === 'object' && body !== null && Object.getPrototypeOf(body) === Object.prototype
}

function bodyEpisodeId (options: SdkOptions): string | undefined {
  const body = options.body
  if (!isInferenceCall(options)) return undefined
  const id = (body as Record<string, unknown>)[EPISODE_FIELD]
  return typeof id === 'string' ? id : undefined
}

/** A header from any of the SDK's header shapes: Headers, [name, value][] (possibly nested), or a plain object. */
function headerValue (headers: unknown, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined
  if (typeof (headers as Headers).get === 'function' && typeof (headers as Headers).has === 'function') {
    return (headers as Headers).get(name) ?? undefined
  }
  if (Array.isArray(headers)) {
    let found: string | undefined
    for (const entry of headers) {
      if (Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string') {
        if (entry[0].toLowerCase() === name && typeof entry[1] === 'string') found = entry[1]
      } else {
        found = headerValue(entry, name) ?? found
      }
    }
    return found
  }
  let found: string | undefined
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name && typeof v === 'string') found = v
  return found
}

function setHeader (request: SdkRequest, name: string, value: string): void {
  // v5–v7 build `req.headers` as a Headers; anything else (a subclass's own buildRequest) is converted.
  if (request.headers instanceof Headers) { request.headers.set(name, value); return }
  const next = new Headers(request.headers as HeadersInit | undefined)
  next.set(name, value)
  request.headers = next
}
