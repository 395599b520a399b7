// The route table: for each route its method, paths, template (the label metrics and log lines carry, never the raw
// URL), whether it is open (served without the API key: probes and scrapes), TensorZero's `endpoint` label for the
// inference routes (the requests the request metrics count and time), whether its body must be JSON (415 otherwise),
// and its handler in routes/.
// Every `/v1/…` path also answers under `/openai/v1/…`, TensorZero's prefix for its OpenAI-compatible routes.
import { withoutOpenAIPrefix } from './http/passthrough.ts'
import { GatewayError, errorBody } from '../src/core/errors.ts'
import { nativeErrorBody } from '../src/endpoints/tensorzero/inference-response.ts'
import type { RouteHandler } from './routes/context.ts'
import { chat } from './routes/chat.ts'
import { inference } from './routes/inference.ts'
import { responses } from './routes/responses.ts'
import { embeddings } from './routes/embeddings.ts'
import { transcriptions, translations, speech } from './routes/audio.ts'
import { models, model } from './routes/models.ts'
import { feedback } from './routes/feedback.ts'
import { workflowEvaluationRun, workflowEvaluationEpisode } from './routes/workflow-evaluation.ts'
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
  /** How its errors are shaped: OpenAI's, or TensorZero's native `{"error": "…"}`. */
  errorBody: (err: GatewayError) => unknown
  handle: RouteHandler
}

interface Row {
  method: 'GET' | 'POST'; paths: string[]; template: string; open: boolean; endpoint?: string; jsonBody?: true
  errorBody?: (err: GatewayError) => unknown; handle: RouteHandler
}

const TABLE: Row[] = [
  { method: 'POST', paths: ['/v1/chat/completions'], template: '/v1/chat/completions', open: false, endpoint: 'inference', jsonBody: true, handle: chat },
  // TensorZero's native endpoint reads JSON whatever the Content-Type says, and answers errors in its own shape.
  { method: 'POST', paths: ['/inference'], template: '/inference', open: false, endpoint: 'inference', errorBody: nativeErrorBody, handle: inference },
  { method: 'POST', paths: ['/v1/responses'], template: '/v1/responses', open: false, endpoint: 'inference', jsonBody: true, handle: responses },
  { method: 'POST', paths: ['/v1/embeddings'], template: '/v1/embeddings', open: false, endpoint: 'embeddings', jsonBody: true, handle: embeddings },
  // Multipart: the audio file is read by the route, not as JSON.
  { method: 'POST', paths: ['/v1/audio/transcriptions'], template: '/v1/audio/transcriptions', open: false, endpoint: 'audio_transcriptions', handle: transcriptions },
  { method: 'POST', paths: ['/v1/audio/translations'], template: '/v1/audio/translations', open: false, endpoint: 'audio_translations', handle: translations },
  { method: 'POST', paths: ['/v1/audio/speech'], template: '/v1/audio/speech', open: false, endpoint: 'audio_speech', jsonBody: true, handle: speech },
  { method: 'GET', paths: ['/v1/models'], template: '/v1/models', open: false, handle: models },
  // A path ending in `/{id}` matches every path under its prefix; the handler reads the id.
  { method: 'GET', paths: ['/v1/models/{id}'], template: '/v1/models/{id}', open: false, handle: model },
  { method: 'POST', paths: ['/feedback', '/v1/feedback'], template: '/feedback', open: false, jsonBody: true, handle: feedback },
  { method: 'POST', paths: ['/workflow_evaluation_run'], template: '/workflow_evaluation_run', open: false, handle: workflowEvaluationRun },
  // As TensorZero's, these read JSON whatever the Content-Type says; the episode handler reads `{run_id}/episode` from the path.
  { method: 'POST', paths: ['/workflow_evaluation_run/{id}'], template: '/workflow_evaluation_run/{run_id}/episode', open: false, handle: workflowEvaluationEpisode },
  { method: 'GET', paths: ['/health'], template: '/health', open: true, handle: health },
  { method: 'GET', paths: ['/status'], template: '/status', open: true, handle: status },
  { method: 'GET', paths: ['/metrics'], template: '/metrics', open: true, handle: metrics }
]

/** Any other `/v1/…` request, whatever its method, goes to `passthrough_upstream`. */
const PASSTHROUGH: Route = { template: '/v1/*', open: false, wildcard: true, jsonBody: false, errorBody, handle: passthrough }

const NOT_FOUND: Route = {
  template: 'other',
  open: false,
  wildcard: true,
  jsonBody: false,
  errorBody,
  handle: (_ctx, req) => {
    req.resume()
    throw new GatewayError(404, `Route not found: ${req.method ?? ''} ${req.url ?? ''}`)
  }
}

const PARAMETER = '{id}'

/** Path → method → route; and for paths with a parameter, their prefix (`/v1/models/`) → method → route. */
const BY_PATH = new Map<string, Map<string, Route>>()
const BY_PREFIX = new Map<string, Map<string, Route>>()
for (const { method, paths, template, open, jsonBody, errorBody: body, handle } of TABLE) {
  for (const path of paths) {
    const parameterized = path.endsWith(`/${PARAMETER}`)
    const index = parameterized ? BY_PREFIX : BY_PATH
    const key = parameterized ? path.slice(0, -PARAMETER.length) : path
    const byMethod = index.get(key) ?? new Map<string, Route>()
    byMethod.set(method, { template, open, wildcard: parameterized, jsonBody: jsonBody === true, errorBody: body ?? errorBody, handle })
    index.set(key, byMethod)
  }
}

function parameterRoute (method: string, path: string): Route | undefined {
  for (const [prefix, byMethod] of BY_PREFIX) {
    if (path.length > prefix.length && path.startsWith(prefix) && !hasDotSegment(path.slice(prefix.length))) return byMethod.get(method)
  }
  return undefined
}

/** `.` and `..` (raw or percent-encoded) are never part of an id: such paths stay with the pass-through's confinement (a 400). */
function hasDotSegment (rest: string): boolean {
  return rest.split('/').some(segment => {
    let decoded = segment
    try { decoded = decodeURIComponent(segment) } catch { /* matched as sent */ }
    return decoded === '.' || decoded === '..'
  })
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
  const local = withoutOpenAIPrefix(path)
  return BY_PATH.get(local)?.get(method) ?? parameterRoute(method, local) ?? (passesThrough(path) ? PASSTHROUGH : NOT_FOUND)
}
