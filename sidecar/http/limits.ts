// What the HTTP server lets one client hold: time to send headers and a request, idle keep-alive time, connections,
// and requests doing work at once. Defaults protect a sidecar nobody tuned; each is a `SIDECAR_*` variable, 0 = no limit.
import { numberFromEnv } from '../../src/core/env.ts'

export interface ServerLimits {
  /** Time from connecting (or the end of the last answer) to the request's last header; then 408 and the socket is destroyed. */
  headersTimeoutMs: number
  /** Time to receive a whole request, body included (never the answer: streams may last minutes); then 408 and destroyed. */
  requestTimeoutMs: number
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number
  /** Open connections at most; past it new connections are closed at once. */
  maxConnections: number
  /** Requests doing work (inference, embeddings, feedback, pass-through) at once; past it 503 with `Retry-After`. */
  maxInFlight: number
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 65_000,
  maxConnections: 1024,
  maxInFlight: 512
}

export function serverLimitsFromEnv (env: NodeJS.ProcessEnv): ServerLimits {
  const limits: ServerLimits = {
    headersTimeoutMs: numberFromEnv(env, 'SIDECAR_HEADERS_TIMEOUT_MS', DEFAULT_LIMITS.headersTimeoutMs),
    requestTimeoutMs: numberFromEnv(env, 'SIDECAR_REQUEST_TIMEOUT_MS', DEFAULT_LIMITS.requestTimeoutMs),
    keepAliveTimeoutMs: numberFromEnv(env, 'SIDECAR_KEEP_ALIVE_TIMEOUT_MS', DEFAULT_LIMITS.keepAliveTimeoutMs),
    maxConnections: numberFromEnv(env, 'SIDECAR_MAX_CONNECTIONS', DEFAULT_LIMITS.maxConnections),
    maxInFlight: numberFromEnv(env, 'SIDECAR_MAX_IN_FLIGHT', DEFAULT_LIMITS.maxInFlight)
  }
  // Node refuses a headers timeout longer than the request timeout: say so in our own names.
  if (limits.requestTimeoutMs > 0 && limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new Error(`SIDECAR_HEADERS_TIMEOUT_MS (${limits.headersTimeoutMs}) must not exceed SIDECAR_REQUEST_TIMEOUT_MS (${limits.requestTimeoutMs})`)
  }
  return limits
}

/** `http.createServer` options for these limits. */
export function serverOptions (limits: ServerLimits): { headersTimeout: number; requestTimeout: number; keepAliveTimeout: number; connectionsCheckingInterval: number } {
  const shortest = Math.min(...[limits.headersTimeoutMs, limits.requestTimeoutMs].filter(ms => ms > 0))
  return {
    headersTimeout: Math.floor(limits.headersTimeoutMs),
    requestTimeout: Math.floor(limits.requestTimeoutMs),
    keepAliveTimeout: Math.floor(limits.keepAliveTimeoutMs),
    // Node checks the two timeouts on this interval (30 s by default, which would triple a 10 s headers timeout).
    connectionsCheckingInterval: Number.isFinite(shortest) ? Math.max(100, Math.min(1000, Math.floor(shortest / 4))) : 30_000
  }
}
