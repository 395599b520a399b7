// What one HTTP request did, filled in as it goes; logging and metrics read it when the response is over.
import type { InferenceMeta } from '../../src/function/run.ts'
import type { Usage } from '../../src/core/types.ts'
import type { GatewayError } from '../../src/core/errors.ts'
import type { AttemptRecord, InferenceObserver } from '../../src/core/records.ts'
import { AsyncLocalStorage } from 'node:async_hooks'

export interface RequestLog {
  /** Route template (never the raw URL: it is a metrics label). */
  route: string
  method: string
  started: number
  status?: number
  inference?: InferenceMeta
  usage?: Usage
  ttftMs?: number
  error?: GatewayError
  /** The error happened after the first chunk and was reported in-stream. */
  streamError?: boolean
  passthrough?: boolean
  /** What `model` resolved to (config names only; set once resolution succeeded). */
  target?: { kind: string; functionName?: string; modelName?: string }
  /** `errorClassOf` the failure (timeout, rate_limit, server, client, connection, …): `error` alone loses it. */
  errorClass?: string
  /** Provider attempts made for this request, in order (filled by `collectAttempts`). */
  attempts?: AttemptRecord[]
  /** Trace of the request's server span, for log lines (absent when tracing is off and no traceparent came in). */
  traceId?: string
  spanId?: string
}

/** The RequestLog of the request being served, across its awaits. */
export const requestScope = new AsyncLocalStorage<RequestLog>()

/** Wraps an observer so each provider attempt is also appended to the current request's log. */
export function collectAttempts (observer: InferenceObserver | undefined): InferenceObserver {
  return {
    onInference: observer?.onInference?.bind(observer),
    onFeedback: observer?.onFeedback?.bind(observer),
    onAttempt (attempt) {
      const log = requestScope.getStore()
      if (log !== undefined) (log.attempts ??= []).push(attempt)
      observer?.onAttempt?.(attempt)
    }
  }
}

/** Called once per finished request (response sent, or client gone). */
export type RequestListener = (log: RequestLog) => void
