// Errors of every layer and the one mapping from an error to its class (metrics, logs) and to the status a client sees.
// Every HTTP route turns a GatewayError into `{"error":{"message"}}` with its status.
import { TimeoutError } from './deadline.ts'

export class GatewayError extends Error {
  readonly status: number
  /** OpenAI-style `error.type`, for SDKs that read it. */
  readonly type: string
  /** How long the client should wait before trying again, sent as `Retry-After` (a provider asked for it). */
  readonly retryAfterMs?: number
  constructor (status: number, message: string, opts: { type?: string; retryAfterMs?: number } = {}) {
    super(message)
    this.name = 'GatewayError'
    this.status = status
    this.type = opts.type ?? errorTypeFor(status)
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs
  }
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

export function errorBody (err: GatewayError): { error: { message: string; type: string } } {
  return { error: { message: err.message, type: err.type } }
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
  constructor (modelName: string, errors: Array<{ provider: string; error: Error }>) {
    super(`All model providers failed to infer with errors: ${errors.map(e => `${e.provider}: ${e.error.message}`).join('; ')}`)
    this.name = 'ModelProvidersFailed'
    this.modelName = modelName
    this.errors = errors
  }

  /** The last provider's failure decides: see `attemptStatus`. */
  get status (): number {
    return attemptStatus(this.errors.at(-1)?.error)
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
    super(`All variants failed with errors: ${errors.map(e => `${e.variant}: ${e.error.message}`).join('; ')}`)
    this.name = 'VariantsFailed'
    this.functionName = functionName
    this.errors = errors
  }

  /**
   * 502 when any variant failed on the server's side. When every variant failed with a 4xx (the request's own fault, a
   * timeout, a rate limit), nothing is wrong upstream that a retry of the same request would fix: the last one's status.
   */
  get status (): number {
    const statuses = this.errors.map(e => attemptStatus(e.error))
    return statuses.length > 0 && statuses.every(s => s < 500) ? statuses[statuses.length - 1] : 502
  }

  get retryAfterMs (): number | undefined {
    return retryAfterOf(this.errors.at(-1)?.error)
  }
}

/** The status and message a client sees for any failure of an inference. */
export function toGatewayError (err: unknown): GatewayError {
  if (err instanceof GatewayError) return err
  if (err instanceof VariantsFailed || err instanceof ModelProvidersFailed) {
    return new GatewayError(err.status, err.message, { retryAfterMs: err.retryAfterMs })
  }
  if (err instanceof TimeoutError || err instanceof ProviderError) {
    return new GatewayError(attemptStatus(err), err.message, { retryAfterMs: retryAfterOf(err) })
  }
  return new GatewayError(500, `internal error: ${(err as Error)?.message ?? String(err)}`)
}

/**
 * The status one failed attempt answers with (TensorZero's rules): a timeout at any level 408; a rate-limited provider
 * 429, so clients back off; a mistake in the request (a GatewayError 4xx, e.g. a template it names that the variant
 * lacks) keeps its status; any other provider failure 500.
 */
function attemptStatus (err: Error | undefined): number {
  if (err instanceof TimeoutError) return 408
  if (err instanceof ProviderError) return err.errorClass === 'rate_limit' ? 429 : 500
  if (err instanceof GatewayError || err instanceof ModelProvidersFailed || err instanceof VariantsFailed) return err.status
  return 500
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
