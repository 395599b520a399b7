// The sidecar's HTTP server over a Gateway: lifecycle, auth, the server span and a draining shutdown; the routes
// themselves are rows of router.ts.
import http from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { timingSafeEqual } from 'node:crypto'
import type { Gateway } from '../src/gateway.ts'
import { GatewayError, toGatewayError, errorClassOf } from '../src/core/errors.ts'
import { startServerSpan, runInContext, traceIds, failSpan } from '../src/core/tracing.ts'
import { DEFAULT_BODY_LIMIT } from './http/body.ts'
import { sendError } from './http/respond.ts'
import { createPassthrough } from './http/passthrough.ts'
import type { Passthrough } from './http/passthrough.ts'
import { routeFor, passesThrough } from './router.ts'
import type { MetricsSource, RouteContext, ServerState } from './routes/context.ts'
import { RequestLog } from './ops/request-log.ts'
import type { RequestListener } from './ops/request-log.ts'

export interface SidecarOptions {
  /** What the routes serve: inferences, embeddings, feedback, the store's /status facts (see `createGateway`). */
  gateway: Gateway
  /** When set, every inference route needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string
  bodyLimit?: number
  onRequest?: RequestListener
  metrics?: MetricsSource
  /** Releases what the process owns besides the gateway (the trace exporter) once requests have drained. */
  onShutdown?: () => Promise<void>
  /** The process logger, for callers that need it after construction. */
  logger?: unknown
}

export class Sidecar implements ServerState {
  readonly gateway: Gateway
  readonly server: http.Server
  private readonly opts: SidecarOptions
  private readonly passthrough: Passthrough
  private readonly apiKey?: Buffer
  private readonly routeDeps: RouteContext
  private inFlight = 0
  private stopping = false
  private idleWaiters: Array<() => void> = []

  constructor (opts: SidecarOptions) {
    this.opts = opts
    const gateway = this.gateway = opts.gateway
    const sidecar = gateway.config.sidecar
    this.passthrough = createPassthrough(sidecar.passthroughUpstream, sidecar.passthroughAuthorization)
    this.routeDeps = {
      gateway,
      bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
      passthrough: this.passthrough,
      metrics: opts.metrics,
      server: this
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
    this.stopping = true
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

  get draining (): boolean { return this.stopping }

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
    const method = req.method ?? 'GET'
    const route = routeFor(method, path)
    const log = new RequestLog(route.template, method)
    // Server span named like TensorZero's (`POST /openai/v1/chat/completions`): the path only when a row serves it.
    const spanRoute = route.wildcard ? route.template : path
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
    if (this.stopping) res.setHeader('connection', 'close')
    try {
      if (!route.open && !this.authorized(req)) {
        req.resume()
        throw new GatewayError(401, 'Missing or invalid API key: send `Authorization: Bearer <SIDECAR_API_KEY>`')
      }
      await runInContext(server.context, () => route.handle(this.routeDeps, req, res, log, controller.signal))
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

  private upgrade (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!passesThrough((req.url ?? '/').split('?')[0])) { socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'); return }
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
