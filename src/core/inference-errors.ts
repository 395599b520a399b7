// Failures of the routing layers, each keeping the failures beneath it so the final message lists every attempt.
import { ProviderError } from '../providers/adapter.ts'
import { TimeoutError } from './deadline.ts'
import { GatewayError } from './errors.ts'

export class ModelProvidersFailed extends Error {
  readonly modelName: string
  readonly errors: Array<{ provider: string; error: Error }>
  constructor (modelName: string, errors: Array<{ provider: string; error: Error }>) {
    super(`All model providers failed to infer with errors: ${errors.map(e => `${e.provider}: ${e.error.message}`).join('; ')}`)
    this.name = 'ModelProvidersFailed'
    this.modelName = modelName
    this.errors = errors
  }

  /** 429 when the last provider was rate limited, so clients back off; otherwise 500 (TensorZero's rule). */
  get status (): number {
    const last = this.errors.at(-1)?.error
    return last instanceof ProviderError && last.errorClass === 'rate_limit' ? 429 : 500
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
  if (err instanceof ProviderError) return new GatewayError(err.errorClass === 'rate_limit' ? 429 : 500, err.message)
  return new GatewayError(500, `internal error: ${(err as Error)?.message ?? String(err)}`)
}

/** Short class of an error for metrics and logs. */
export function errorClassOf (err: unknown): string {
  if (err instanceof TimeoutError) return 'timeout'
  if (err instanceof ProviderError) return err.errorClass
  if (err instanceof ModelProvidersFailed) return classOfLast(err.errors.map(e => e.error))
  if (err instanceof VariantsFailed) return classOfLast(err.errors.map(e => e.error))
  if (err instanceof GatewayError) return err.status < 500 ? 'client' : 'server'
  return 'internal'
}

function classOfLast (errors: Error[]): string {
  const last = errors.at(-1)
  return last === undefined ? 'internal' : errorClassOf(last)
}
