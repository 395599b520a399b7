// What a route handler is handed: the parts of the sidecar a route may use, then the request it serves.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Gateway } from '../../src/gateway.ts'
import type { Passthrough } from '../http/passthrough.ts'
import type { RequestLog } from '../ops/request-log.ts'

export interface MetricsSource { (): Promise<{ contentType: string; body: string }> }

/** How the last config reload went (SIGHUP or a changed file). */
export interface ReloadOutcome {
  at: string
  trigger: string
  ok: boolean
  /** `file:line:col: message` lines (or one message) when it failed; the config in use was kept. */
  errors: string[]
  /** Changes a reload cannot apply (they take effect at the next start). */
  restartNeeded: string[]
}

/** What /status reports about the server itself. */
export interface ServerState {
  /** When the config in use was loaded, and the last reload's outcome. */
  readonly configState: { loadedAt: string; lastReload?: ReloadOutcome }
  /** Requests being served right now, the asking one included. */
  readonly inFlightRequests: number
  /** Shutting down: finishing what is in flight, taking nothing new. */
  readonly draining: boolean
}

export interface RouteContext {
  gateway: Gateway
  bodyLimit: number
  /** Where requests for models the config does not match, and other `/v1/…` routes, are forwarded. */
  passthrough: Passthrough
  metrics?: MetricsSource
  server: ServerState
}

/** Serves one request; failures are thrown (the server answers them as OpenAI-shaped errors). */
export type RouteHandler = (ctx: RouteContext, req: IncomingMessage, res: ServerResponse, log: RequestLog, signal: AbortSignal) => void | Promise<void>
