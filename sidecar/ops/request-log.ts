// What one HTTP request did, filled in as it goes; logging and metrics read it when the response is over.
// The record is also the observer handed in with the request's inference call, so the attempts of this request land
// here and nowhere else, without a lookup through async context.
import type { InferenceMeta } from '../../src/function/run.ts'
import type { Usage } from '../../src/core/types.ts'
import type { GatewayError } from '../../src/core/errors.ts'
import type { AttemptKind, AttemptRecord, InferenceObserver } from '../../src/core/records.ts'
import { DEFAULT_FUNCTION_NAME } from '../../src/core/names.ts'

export class RequestLog implements InferenceObserver {
  /** Route template (never the raw URL: it is a metrics label). */
  readonly route: string
  readonly method: string
  /** performance.now() at the start. */
  readonly started: number
  status?: number
  inference?: InferenceMeta
  usage?: Usage
  /** Time to the first chunk written to the client (streams), ms. */
  ttftMs?: number
  error?: GatewayError
  /** The error happened after the first chunk and was reported in-stream. */
  streamError?: boolean
  passthrough?: boolean
  /** What `model` resolved to (config names only; set once resolution succeeded). */
  target?: { kind: string; functionName?: string; modelName?: string }
  /** `errorClassOf` the failure (timeout, rate_limit, server, client, connection, …): `error` alone loses it. */
  errorClass?: string
  /** Provider attempts made for this request, in order. */
  attempts?: AttemptRecord[]
  /** Trace of the request's server span, for log lines (absent when tracing is off and no traceparent came in). */
  traceId?: string
  spanId?: string

  constructor (route: string, method: string, started = performance.now()) {
    this.route = route
    this.method = method
    this.started = started
  }

  onAttempt (attempt: AttemptRecord): void {
    (this.attempts ??= []).push(attempt)
  }
}

/** Called once per finished request (response sent, or client gone). */
export type RequestListener = (log: RequestLog) => void

/** How metrics and log lines name a retry or fallback. */
export type StepKind = 'retry' | 'provider' | 'variant'

const STEP_KINDS: Record<AttemptKind, StepKind | undefined> = { first: undefined, retry: 'retry', provider_fallback: 'provider', variant_fallback: 'variant' }

/** Each retry or fallback the request took, as its attempts recorded it, with the attempt it followed. */
export function forEachStep (log: RequestLog, visit: (kind: StepKind, from: AttemptRecord, to: AttemptRecord) => void): void {
  const attempts = log.attempts
  if (attempts === undefined) return
  for (let i = 1; i < attempts.length; i++) {
    const kind = STEP_KINDS[attempts[i].kind]
    if (kind !== undefined) visit(kind, attempts[i - 1], attempts[i])
  }
}

const ERROR_CLASSES = new Set(['timeout', 'rate_limit', 'server', 'client', 'connection', 'bad_response', 'credentials', 'unsupported', 'circuit_open', 'internal', 'client_closed'])

/** The error class of a request, or undefined when it succeeded. A client that went away is `client_closed`. */
export function requestErrorClass (log: RequestLog): string | undefined {
  if (log.error === undefined && log.streamError !== true) return undefined
  if (log.error?.status === 499) return 'client_closed'
  const cls = log.errorClass ?? ((log.error?.status ?? 500) < 500 ? 'client' : 'server')
  return ERROR_CLASSES.has(cls) ? cls : 'internal'
}

/**
 * The status of a request refused because of the request itself (unknown model, bad body, missing auth, too large…),
 * or undefined. These are the client's mistakes, not failed inferences: they are counted apart so that one service's
 * typo does not look like a provider outage. Timeouts and rate limits are never the client's mistake here.
 */
export function clientMistakeStatus (log: RequestLog): number | undefined {
  if (log.streamError === true || requestErrorClass(log) !== 'client') return undefined
  const status = log.error?.status
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429 ? status : undefined
}

/** Function, variant, model and provider a request ended on: what served it, else the last attempt, else its target. */
export function servedBy (log: RequestLog): { functionName?: string; variantName?: string; modelName?: string; providerName?: string } {
  if (log.inference !== undefined) {
    const { functionName, variantName, modelName, providerName } = log.inference
    return { functionName, variantName, modelName, providerName }
  }
  const last = log.attempts?.at(-1)
  const t = log.target
  const targetFunction = t?.kind === 'function' ? t.functionName : (t?.kind === 'model' ? DEFAULT_FUNCTION_NAME : undefined)
  return {
    functionName: targetFunction,
    variantName: last?.variantName,
    modelName: last?.modelName ?? t?.modelName,
    providerName: last?.providerName
  }
}
