// The route table: for each route its method, paths, template (the label metrics and log lines carry, never the raw
// URL), whether it is open (served without the API key: probes and scrapes), TensorZero's `endpoint` label for the
// inference routes (the requests the request metrics count and time), whether its body must be JSON (415 otherwise),
// and its handler in routes/.
// Every `/v1/…` path also answers under `/openai/v1/…`, TensorZero's prefix for its OpenAI-compatible routes.
import { withoutOpenAIPrefix } from './http/passthrough.ts'
import { GatewayError } from '../src/core/errors.ts'
import type { RouteHandler } from './routes/context.ts'
import { chat } from './routes/chat.ts'
import { embeddings } from './routes/embeddings.ts'
import { models } from './routes/models.ts'
import { feedback } from './routes/feedback.ts'
import { health } from './routes/health.ts'
import { status } from './routes/status.ts'
import { metrics } from './routes/metrics.ts'
import { passthrough } from './routes/passthrough.ts'

export interface Route {
  template: string
  open: boolean
  /** Matched by a rule rather than a path of its own: its server span is named by the template, not the path. */
  wildcard: boolean
  /** Its body must be sent as `Content-Type: application/json`. */
  jsonBody: boolean
  handle: RouteHandler
}

interface Row { method: 'GET' | 'POST'; paths: string[]; template: string; open: boolean; endpoint?: string; jsonBody?: true; handle: RouteHandler }

const TABLE: Row[] = [
  { method: 'POST', paths: ['/v1/chat/completions'], template: '/v1/chat/completions', open: false, endpoint: 'inference', jsonBody: true, handle: chat },
  { method: 'POST', paths: ['/v1/embeddings'], template: '/v1/embeddings', open: false, endpoint: 'embeddings', jsonBody: true, handle: embeddings },
  { method: 'GET', paths: ['/v1/models'], template: '/v1/models', open: false, handle: models },
  { method: 'POST', paths: ['/feedback', '/v1/feedback'], template: '/feedback', open: false, jsonBody: true, handle: feedback },
  { method: 'GET', paths: ['/health'], template: '/health', open: true, handle: health },
  { method: 'GET', paths: ['/status'], template: '/status', open: true, handle: status },
  { method: 'GET', paths: ['/metrics'], template: '/metrics', open: true, handle: metrics }
]

/** Any other `/v1/…` request, whatever its method, goes to `passthrough_upstream`. */
const PASSTHROUGH: Route = { template: '/v1/*', open: false, wildcard: true, jsonBody: false, handle: passthrough }

const NOT_FOUND: Route = {
  template: 'other',
  open: false,
  wildcard: true,
  jsonBody: false,
  handle: (_ctx, req) => {
    req.resume()
    throw new GatewayError(404, `Route not found: ${req.method ?? ''} ${req.url ?? ''}`)
  }
}

/** Path → method → route. */
const BY_PATH = new Map<string, Map<string, Route>>()
for (const { method, paths, template, open, jsonBody, handle } of TABLE) {
  for (const path of paths) {
    const byMethod = BY_PATH.get(path) ?? new Map<string, Route>()
    byMethod.set(method, { template, open, wildcard: false, jsonBody: jsonBody === true, handle })
    BY_PATH.set(path, byMethod)
  }
}

/** Every template a request can be labelled with. */
export const ROUTE_TEMPLATES: ReadonlySet<string> = new Set([...TABLE.map(r => r.template), PASSTHROUGH.template, NOT_FOUND.template])

/** Template → TensorZero's `endpoint` label, for the inference routes only. */
export const INFERENCE_ENDPOINTS: ReadonlyMap<string, string> = new Map(TABLE.flatMap(r => r.endpoint === undefined ? [] : [[r.template, r.endpoint] as const]))

/** Whether a path (without its query) is forwarded to `passthrough_upstream` when no row serves it; WebSocket upgrades too. */
export function passesThrough (path: string): boolean {
  return withoutOpenAIPrefix(path).startsWith('/v1/')
}

export function routeFor (method: string, path: string): Route {
  return BY_PATH.get(withoutOpenAIPrefix(path))?.get(method) ?? (passesThrough(path) ? PASSTHROUGH : NOT_FOUND)
}
