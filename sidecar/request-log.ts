// What one HTTP request did, filled in as it goes; logging and metrics read it when the response is over.
import type { InferenceMeta } from '../src/inference/function.ts'
import type { Usage } from '../src/inference/types.ts'
import type { GatewayError } from '../src/errors.ts'

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
}

/** Called once per finished request (response sent, or client gone). */
export type RequestListener = (log: RequestLog) => void
