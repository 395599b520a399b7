// The sidecar's HTTP server: routes of ARCHITECTURE.md over a Gateway, with auth, body limits and a draining shutdown.
import http from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { timingSafeEqual } from 'node:crypto'
import type { LoadedConfig } from '../src/core/config.ts'
import type { InferenceObserver } from '../src/core/records.ts'
import type { MessagePreparer } from '../src/variant/chat-completion.ts'
import { Gateway } from '../src/gateway.ts'
import { GatewayError, toGatewayError, errorClassOf } from '../src/core/errors.ts'
import { startServerSpan, runInContext, traceIds, failSpan } from '../src/core/tracing.ts'
import { readBody, parseJson, DEFAULT_BODY_LIMIT } from './http/body.ts'
import { sendJson, sendError } from './http/respond.ts'
import { createPassthrough, withoutOpenAIPrefix } from './http/passthrough.ts'
import type { Passthrough } from './http/passthrough.ts'
import { handleChat } from './routes/chat.ts'
import type { ChatRouteDeps } from './routes/chat.ts'
import { handleEmbeddings } from './routes/embeddings.ts'
import { modelsBody } from './routes/models.ts'
import type { RequestLog, RequestListener } from './ops/request-log.ts'
import { requestScope, collectAttempts } from './ops/request-log.ts'

export interface FeedbackHandler { (body: unknown): Promise<{ status: number; body: unknown }> }
export interface MetricsSource { (): Promise<{ contentType: string; body: string }> }

export interface SidecarOptions {
  config: LoadedConfig
  /** When set, every inference route needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string
  bodyLimit?: number
  observer?: InferenceObserver
  prepareMessages?: MessagePreparer
  onRequest?: RequestListener
  /** Extra readiness facts for /status (ClickHouse, spool). `ready: false` makes /status answer 503. */
  status?: () => Record<string, unknown> & { ready?: boolean }
  metrics?: MetricsSource
  feedback?: FeedbackHandler
  env?: NodeJS.ProcessEnv
  /**
   * Awaited before the last bytes of an inference response (the body, or a stream's `[DONE]`), so a response the
   * client saw complete has its rows on disk (the ClickHouse spool) even if the process is killed right after.
   */
  beforeComplete?: () => Promise<void>
  /** Releases what the sidecar owns (ClickHouse sink, trace exporter) once requests have drained. */
  onShutdown?: () => Promise<void>
  /** The process logger, for callers that need it after construction. */
  logger?: unknown
}

type Route = 'chat' | 'embeddings' | 'models' | 'feedback' | 'health' | 'status' | 'metrics' | 'passthrough' | 'not_found'

function routeOf (method: string, path: string): Route {
  const v1 = withoutOpenAIPrefix(path)
  if (method === 'POST' && v1 === '/v1/chat/completions') return 'chat'
  if (method === 'POST' && v1 === '/v1/embeddings') return 'embeddings'
  if (method === 'GET' && v1 === '/v1/models') return 'models'
  if (method === 'POST' && (path === '/feedback' || v1 === '/v1/feedback')) return 'feedback'
  if (method === 'GET' && path === '/health') return 'health'
  if (method === 'GET' && path === '/status') return 'status'
  if (method === 'GET' && path === '/metrics') return 'metrics'
  if (v1.startsWith('/v1/')) return 'passthrough'
  return 'not_found'
}

const ROUTE_TEMPLATES: Record<Route, string> = {
  chat: '/v1/chat/completions',
  embeddings: '/v1/embeddings',
  models: '/v1/models',
  feedback: '/feedback',
  health: '/health',
  status: '/status',
  metrics: '/metrics',
  passthrough: '/v1/*',
  not_found: 'other'
}

const OPEN_ROUTES = new Set<Route>(['health', 'status', 'metrics'])

export class Sidecar {
  readonly gateway: Gateway
  readonly server: http.Server
  private readonly opts: SidecarOptions
  private readonly passthrough: Passthrough
  private readonly bodyLimit: number
  private readonly apiKey?: Buffer
  private readonly routeDeps: ChatRouteDeps
  private inFlight = 0
  private draining = false
  private idleWaiters: Array<() => void> = []

  constructor (opts: SidecarOptions) {
    this.opts = opts
    this.gateway = new Gateway(opts.config, { observer: collectAttempts(opts.observer), env: opts.env, prepareMessages: opts.prepareMessages })
    const sidecar = opts.config.sidecar
    this.passthrough = createPassthrough(sidecar.passthroughUpstream, sidecar.passthroughAuthorization)
    this.bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT
    this.routeDeps = {
      gateway: this.gateway,
      passthrough: (r, s, b) => this.passthrough.web(r, s, b),
      beforeComplete: opts.beforeComplete
    }
    this.apiKey = opts.apiKey === undefined || opts.apiKey === '' ? undefined : Buffer.from(`Bearer ${opts.apiKey}`)
    this.server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => { void this.handle(req, res) })
    this.server.on('upgrade', (req, socket, head) => { this.upgrade(req, socket, head) })
    this.server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
      else socket.destroy()
    })
  }

  async listen (port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => { this.server.off('error', reject); resolve() })
    })
    return this.server.address() as AddressInfo
  }

  /** Stop accepting, let in-flight requests and streams finish (at most `drainMs`), then close everything. */
  async shutdown (drainMs = 30_000): Promise<{ drained: boolean }> {
    this.draining = true
    const closed = new Promise<void>(resolve => this.server.close(() => resolve()))
    this.server.closeIdleConnections()
    let drained = true
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined
      drained = await Promise.race([
        new Promise<boolean>(resolve => this.idleWaiters.push(() => resolve(true))),
        new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), drainMs) })
      ])
      clearTimeout(timer)
    }
    this.server.closeAllConnections()
    await closed
    this.passthrough.close()
    await this.gateway.close()
    await this.opts.onShutdown?.()
    return { drained }
  }

  get logger (): unknown { return this.opts.logger }

  /** Requests being served right now (streams until they end). */
  get inFlightRequests (): number { return this.inFlight }

  private authorized (req: IncomingMessage): boolean {
    if (this.apiKey === undefined) return true
    const given = req.headers.authorization
    if (given === undefined) return false
    const buf = Buffer.from(given)
    return buf.length === this.apiKey.length && timingSafeEqual(buf, this.apiKey)
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    const route = routeOf(req.method ?? 'GET', path)
    const log: RequestLog = { route: ROUTE_TEMPLATES[route], method: req.method ?? 'GET', started: performance.now() }
    // Server span named like TensorZero's (`POST /openai/v1/chat/completions`): the path only when it is a known route.
    const spanRoute = route === 'passthrough' || route === 'not_found' ? ROUTE_TEMPLATES[route] : path
    const server = startServerSpan(`${log.method} ${spanRoute}`, req.headers, () => ({ 'http.request.method': log.method, 'http.route': log.route, 'url.path': spanRoute }))
    const ids = traceIds(server.span)
    if (ids !== undefined) { log.traceId = ids.traceId; log.spanId = ids.spanId }
    this.inFlight++
    const controller = new AbortController()
    // The listener hears of the request once the response is closed and the handler has settled (a client that
    // leaves closes the response first; the handler then records the abort). Unanswered, the status is 499.
    let closed = false
    let settled = false
    const finish = (): void => {
      if (!closed || !settled) return
      log.status ??= res.headersSent ? res.statusCode : (log.error?.status ?? 499)
      try { this.opts.onRequest?.(log) } catch { /* a listener's failure must not touch the response */ }
      endServerSpan(server.span, log)
    }
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new GatewayError(499, 'client closed the connection'))
      this.inFlight--
      if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake()
      closed = true
      finish()
    })
    if (this.draining) res.setHeader('connection', 'close')
    try {
      if (!OPEN_ROUTES.has(route) && !this.authorized(req)) {
        req.resume()
        throw new GatewayError(401, 'Missing or invalid API key: send `Authorization: Bearer <SIDECAR_API_KEY>`')
      }
      await requestScope.run(log, async () => await runInContext(server.context, async () => await this.dispatch(route, req, res, controller.signal, log)))
    } catch (err) {
      const error = toGatewayError(err)
      log.error = error
      log.errorClass = errorClassOf(err)
      if (error.status === 413 || error.status === 401) req.resume()
      if (!res.destroyed) sendError(res, error)
    } finally {
      settled = true
      finish()
    }
  }

  private async dispatch (route: Route, req: IncomingMessage, res: ServerResponse, signal: AbortSignal, log: RequestLog): Promise<void> {
    switch (route) {
      case 'chat':
      case 'embeddings': {
        const body = await readBody(req, this.bodyLimit)
        const json = parseJson(body)
        const deps = this.routeDeps
        if (route === 'chat') await handleChat(deps, req, res, body, json, signal, log)
        else await handleEmbeddings(deps, req, res, body, json, signal, log)
        return
      }
      case 'feedback': {
        if (this.opts.feedback === undefined) throw new GatewayError(404, 'Feedback is not enabled on this sidecar')
        const json = parseJson(await readBody(req, this.bodyLimit))
        const answer = await this.opts.feedback(json)
        sendJson(res, answer.status, answer.body)
        return
      }
      case 'models':
        sendJson(res, 200, modelsBody(this.opts.config))
        return
      case 'health':
        sendJson(res, 200, { status: 'ok' })
        return
      case 'status': {
        const extra = this.opts.status?.() ?? {}
        const ready = extra.ready !== false && !this.draining
        sendJson(res, ready ? 200 : 503, {
          status: ready ? 'ready' : (this.draining ? 'draining' : 'not_ready'),
          service: this.opts.config.sidecar.service,
          config: {
            files: this.opts.config.tensorzero.files,
            functions: this.opts.config.tensorzero.functions.size,
            models: this.opts.config.tensorzero.models.size,
            embedding_models: this.opts.config.tensorzero.embeddingModels.size
          },
          in_flight: this.inFlight - 1,
          ...extra
        })
        return
      }
      case 'metrics': {
        if (this.opts.metrics === undefined) throw new GatewayError(404, 'Metrics are not enabled on this sidecar')
        const { contentType, body } = await this.opts.metrics()
        res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) })
        res.end(body)
        return
      }
      case 'passthrough':
        log.passthrough = true
        // JSON bodies are read (bounded) so `tensorzero::` fields never reach a non-TensorZero upstream;
        // everything else (uploads, GETs) streams through untouched.
        if (req.method === 'POST' && (req.headers['content-type'] ?? '').includes('json')) {
          this.passthrough.web(req, res, await readBody(req, this.bodyLimit))
        } else {
          this.passthrough.web(req, res)
        }
        return
      case 'not_found':
        req.resume()
        throw new GatewayError(404, `Route not found: ${req.method ?? ''} ${req.url ?? ''}`)
    }
  }

  private upgrade (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!withoutOpenAIPrefix((req.url ?? '/').split('?')[0]).startsWith('/v1/')) { socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'); return }
    if (!this.authorized(req)) { socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'); return }
    this.passthrough.ws(req, socket, head)
  }
}

function endServerSpan (span: import('@opentelemetry/api').Span, log: RequestLog): void {
  if (!span.isRecording()) return
  if (log.status !== undefined) span.setAttribute('http.response.status_code', log.status)
  const i = log.inference
  if (i !== undefined) {
    span.setAttributes({ inference_id: i.inferenceId, episode_id: i.episodeId, function_name: i.functionName, variant_name: i.variantName, model_name: i.modelName, model_provider_name: i.providerName })
  }
  if (log.error !== undefined && (log.error.status >= 500 || log.streamError === true)) failSpan(span, log.error)
  span.end()
}
