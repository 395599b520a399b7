// Errors of every layer and the one mapping from an error to its class (metrics, logs) and to the status a client sees.
// Every HTTP route turns a GatewayError into `{"error":{"message"}}` with its status.
import { TimeoutError } from './deadline.ts'

export class GatewayError extends Error {
  readonly status: number
  /** OpenAI-style `error.type`, for SDKs that read it. */
  readonly type: string
  constructor (status: number, message: string, type = errorTypeFor(status)) {
    super(message)
    this.name = 'GatewayError'
    this.status = status
    this.type = type
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

/** A provider failure, classified so routing and metrics can act on it. */
export type ErrorClass = 'timeout' | 'rate_limit' | 'server' | 'client' | 'connection' | 'bad_response' | 'credentials' | 'unsupported'

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

  /** The last provider's failure decides: see `providerFailureStatus`. */
  get status (): number {
    return providerFailureStatus(this.errors.at(-1)?.error)
  }

  /** The wait the last provider asked for before trying again (Retry-After), if it asked. */
  get retryAfterMs (): number | undefined {
    const last = this.errors.at(-1)?.error
    return last instanceof ProviderError ? last.retryAfterMs : undefined
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
}

/** The status and message a client sees for any failure of an inference. */
export function toGatewayError (err: unknown): GatewayError {
  if (err instanceof GatewayError) return err
  if (err instanceof VariantsFailed) return new GatewayError(502, err.message)
  if (err instanceof ModelProvidersFailed) return new GatewayError(err.status, err.message)
  if (err instanceof TimeoutError) return new GatewayError(408, err.message)
  if (err instanceof ProviderError) return new GatewayError(providerFailureStatus(err), err.message)
  return new GatewayError(500, `internal error: ${(err as Error)?.message ?? String(err)}`)
}

/** 429 when a provider was rate limited, so clients back off; any other provider failure is a 500 (TensorZero's rule). */
function providerFailureStatus (err: Error | undefined): number {
  return err instanceof ProviderError && err.errorClass === 'rate_limit' ? 429 : 500
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
