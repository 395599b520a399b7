// Errors of every layer and the one mapping from an error to its class (metrics, logs) and to the status a client sees.
// Every HTTP route turns a GatewayError into `{"error":{"message"}}` with its status.
import { TimeoutError } from './deadline.ts'

export class GatewayError extends Error {
  readonly status: number
  /** OpenAI-style `error.type`, for SDKs that read it. */
  readonly type: string
  /** How long the client should wait before trying again, sent as `Retry-After` (a provider asked for it). */
  readonly retryAfterMs?: number
  /** OpenAI-style `error.code` and `error.param`, where OpenAI names them (e.g. `previous_response_not_found`). */
  readonly code?: string
  readonly param?: string
  /**
   * The raw answers of the provider attempts that failed (`include_raw_response`: TensorZero puts them in the error
   * body as `tensorzero_raw_response` / `raw_response`); absent when none was asked for or none had a body.
   */
  readonly failedRawResponses?: FailedRawResponse[]
  constructor (status: number, message: string,
    opts: { type?: string; retryAfterMs?: number; code?: string; param?: string; failedRawResponses?: FailedRawResponse[] } = {}) {
    super(message)
    this.name = 'GatewayError'
    this.status = status
    this.type = opts.type ?? errorTypeFor(status)
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs
    if (opts.code !== undefined) this.code = opts.code
    if (opts.param !== undefined) this.param = opts.param
    if (opts.failedRawResponses !== undefined && opts.failedRawResponses.length > 0) this.failedRawResponses = opts.failedRawResponses
  }
}

/**
 * A failed provider attempt's raw answer (its error body, bounded as stored raw responses are), as TensorZero reports
 * it: a RawResponseEntry without `model_inference_id`. Kept only when the request asked for raw responses.
 */
export interface FailedRawResponse { providerType: string; apiType?: 'embeddings'; data: string }

/** TensorZero's wire form of a failed attempt's entry: no `model_inference_id`, since no model inference answered. */
export function failedRawEntry (f: FailedRawResponse): { provider_type: string; api_type: 'chat_completions' | 'embeddings'; data: string } {
  return { provider_type: f.providerType, api_type: f.apiType ?? 'chat_completions', data: f.data }
}

function errorTypeFor (status: number): string {
  if (status === 404) return 'not_found_error'
  if (status === 401) return 'authentication_error'
  if (status === 408) return 'timeout_error'
  if (status === 413) return 'invalid_request_error'
  if (status === 429) return 'rate_limit_error'
  if (status < 500) return 'invalid_request_error'
  return 'server_error'
}

export const badRequest = (message: string): GatewayError => new GatewayError(400, message)

export function errorBody (err: GatewayError): { error: { message: string; type: string; code?: string; param?: string }; tensorzero_raw_response?: unknown[] } {
  const error = err.code === undefined && err.param === undefined
    ? { message: err.message, type: err.type }
    : { message: err.message, type: err.type, code: err.code, param: err.param }
  return err.failedRawResponses === undefined ? { error } : { error, tensorzero_raw_response: err.failedRawResponses.map(failedRawEntry) }
}

/** The `Retry-After` header (whole seconds, rounded up) for an error that carries a wait, else none. */
export function retryAfterHeader (err: GatewayError): { 'retry-after': string } | undefined {
  return err.retryAfterMs === undefined ? undefined : { 'retry-after': String(Math.ceil(err.retryAfterMs / 1000)) }
}

/** A provider failure, classified so routing and metrics can act on it. */
export type ErrorClass = 'timeout' | 'rate_limit' | 'server' | 'client' | 'connection' | 'bad_response' | 'credentials' | 'unsupported'
  /** Not called: the provider's circuit is open (it kept failing), so the walk moved on at once. */
  | 'circuit_open'

export class ProviderError extends Error {
  readonly errorClass: ErrorClass
  readonly status?: number
  /** Provider's raw body (for `raw_response` and debugging), never shown with credentials. */
  readonly rawResponse?: string
  readonly retryAfterMs?: number
  constructor (message: string, errorClass: ErrorClass, opts: { status?: number; rawResponse?: string; retryAfterMs?: number } = {}) {
    super(message)
    this.name = 'ProviderError'
    this.errorClass = errorClass
    this.status = opts.status
    this.rawResponse = opts.rawResponse
    this.retryAfterMs = opts.retryAfterMs
  }
}

// Failures of the routing layers, each keeping the failures beneath it so the final message lists every attempt.
export class ModelProvidersFailed extends Error {
  readonly modelName: string
  readonly errors: Array<{ provider: string; error: Error }>
  /**
   * Every provider was skipped by its open circuit, none was called: walking the routing again (a variant retry) cannot
   * do better until a cool-down ends, so it should not be tried.
   */
  readonly allCircuitsOpen: boolean
  /**
   * The failed attempts' raw answers, in order: the variant's earlier tries (prepended by its retry loop), then each
   * provider of this walk that answered with a body. Filled only when the request asked for raw responses.
   */
  readonly failedRawResponses: FailedRawResponse[]
  constructor (modelName: string, errors: Array<{ provider: string; error: Error }>, failedRawResponses: FailedRawResponse[] = []) {
    super(`All model providers failed to infer with errors: ${errors.map(e => `${e.provider}: ${e.error.message}`).join(', ')}`)
    this.name = 'ModelProvidersFailed'
    this.modelName = modelName
    this.errors = errors
    this.allCircuitsOpen = errors.length > 0 && errors.every(e => e.error instanceof ProviderError && e.error.errorClass === 'circuit_open')
    this.failedRawResponses = failedRawResponses
  }

  /**
   * 429 when the last provider was rate limited, so clients back off; any other failure of every provider is a 500,
   * provider timeouts included (TensorZero's AllModelProvidersFailed). The sidecar's one addition: when every attempt
   * failed because of the request itself (a template or argument it names that the function lacks, an `extra_body`
   * pointer that does not fit), that 4xx, since no retry of the same request can succeed.
   */
  get status (): number {
    return clientMistakeStatus(this) ?? (rateLimited(this.errors.at(-1)?.error) ? 429 : 500)
  }

  /** The wait the last provider asked for before trying again (Retry-After), if it asked. */
  get retryAfterMs (): number | undefined {
    return retryAfterOf(this.errors.at(-1)?.error)
  }
}

export class VariantsFailed extends Error {
  readonly functionName: string
  readonly errors: Array<{ variant: string; error: Error }>
  constructor (functionName: string, errors: Array<{ variant: string; error: Error }>) {
    super(`All variants failed with errors: ${errors.map(e => `${e.variant}: ${e.error.message}`).join('\n')}`)
    this.name = 'VariantsFailed'
    this.functionName = functionName
    this.errors = errors
  }

  /**
   * TensorZero's AllVariantsFailed: 429 when the last variant ended rate limited, else 502 (timeouts included); and,
   * as for every routing failure, the request's own 4xx when every attempt failed because of the request.
   */
  get status (): number {
    return clientMistakeStatus(this) ?? (rateLimited(this.errors.at(-1)?.error) ? 429 : 502)
  }

  get retryAfterMs (): number | undefined {
    return retryAfterOf(this.errors.at(-1)?.error)
  }
}

/** best-of-N / mixture-of-N with no candidate answering (TensorZero's AllCandidatesFailed: a 502, or 429 when rate limited). */
export class CandidatesFailed extends VariantsFailed {
  constructor (functionName: string, errors: Array<{ variant: string; error: Error }>) {
    super(functionName, errors)
    this.name = 'CandidatesFailed'
    this.message = `All candidates failed with errors: ${errors.map(e => `${e.variant}: ${e.error.message}`).join('\n')}`
  }
}

/**
 * The failed attempts' raw answers under a routing failure, in TensorZero's order (each variant or candidate in turn,
 * each model walk's tries and providers in turn); none for any other error.
 */
export function failedRawResponsesOf (err: unknown): FailedRawResponse[] {
  if (err instanceof ModelProvidersFailed) return err.failedRawResponses
  if (err instanceof VariantsFailed) return err.errors.flatMap(e => failedRawResponsesOf(e.error))
  return []
}

/** The status and message a client sees for any failure of an inference. */
export function toGatewayError (err: unknown): GatewayError {
  if (err instanceof GatewayError) return err
  if (err instanceof VariantsFailed || err instanceof ModelProvidersFailed) {
    return new GatewayError(err.status, err.message, { retryAfterMs: err.retryAfterMs, failedRawResponses: failedRawResponsesOf(err) })
  }
  if (err instanceof TimeoutError || err instanceof ProviderError) {
    return new GatewayError(attemptStatus(err), err.message, { retryAfterMs: retryAfterOf(err) })
  }
  return new GatewayError(500, `internal error: ${(err as Error)?.message ?? String(err)}`)
}

/**
 * The status a failure answers with when it reaches the client alone (a pinned variant, a model target): a timeout at
 * model or variant level 408, a provider's own failure 429 when rate limited, else 500 (TensorZero's rules).
 */
function attemptStatus (err: TimeoutError | ProviderError): number {
  if (err instanceof TimeoutError) return 408
  return err.errorClass === 'rate_limit' ? 429 : 500
}

/** Rate limited at the end of the chain: a provider's 429, or a routing failure whose own last failure was. */
function rateLimited (err: Error | undefined): boolean {
  if (err instanceof ProviderError) return err.errorClass === 'rate_limit'
  if (err instanceof ModelProvidersFailed || err instanceof VariantsFailed) return err.status === 429
  return err instanceof GatewayError && err.status === 429
}

/** The 4xx of a failure caused by the request itself (not a timeout, not a rate limit); for a routing failure, only when every attempt was one. */
function clientMistakeStatus (err: Error): number | undefined {
  if (err instanceof ModelProvidersFailed || err instanceof VariantsFailed) {
    if (err.errors.length === 0) return undefined
    let status: number | undefined
    for (const e of err.errors) {
      status = clientMistakeStatus(e.error)
      if (status === undefined) return undefined
    }
    return status
  }
  const ok = err instanceof GatewayError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429
  return ok ? err.status : undefined
}

function retryAfterOf (err: Error | undefined): number | undefined {
  return err instanceof ProviderError || err instanceof GatewayError || err instanceof ModelProvidersFailed ? err.retryAfterMs : undefined
}

/**
 * Short class of an error for metrics and logs: a routing failure takes the class of its last attempt. `unclassified`
 * names what any other error is: `internal` for a request; a provider attempt passes `connection` (the transport threw).
 */
export function errorClassOf (err: unknown, unclassified: ErrorClass | 'internal' = 'internal'): ErrorClass | 'internal' {
  if (err instanceof TimeoutError) return 'timeout'
  if (err instanceof ProviderError) return err.errorClass
  if (err instanceof ModelProvidersFailed || err instanceof VariantsFailed) {
    const last = err.errors.at(-1)?.error
    return last === undefined ? 'internal' : errorClassOf(last)
  }
  if (err instanceof GatewayError) return err.status < 500 ? 'client' : 'server'
  return unclassified
}
