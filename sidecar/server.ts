// The sidecar's HTTP server over a Gateway: lifecycle, limits, admission (auth, content type, capacity), the server
// span and a draining shutdown; the routes themselves are rows of router.ts.
import http from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { timingSafeEqual } from 'node:crypto'
import type { Gateway } from '../src/gateway.ts'
import { GatewayError, toGatewayError, errorClassOf } from '../src/core/errors.ts'
import { startServerSpan, runInContext, traceIds, failSpan } from '../src/core/tracing.ts'
import { DEFAULT_BODY_LIMIT, isJsonContentType } from './http/body.ts'
import { sendError } from './http/respond.ts'
import { createPassthrough, confinementError, pathOf } from './http/passthrough.ts'
import { DEFAULT_LIMITS, serverOptions } from './http/limits.ts'
import type { ServerLimits } from './http/limits.ts'
import { answerAndDestroy, answerClientError } from './http/socket-answers.ts'
import type { Passthrough } from './http/passthrough.ts'
import { routeFor, passesThrough } from './router.ts'
import type { Route } from './router.ts'
import type { MetricsSource, ReloadOutcome, RouteContext, ServerState } from './routes/context.ts'
import { RequestLog } from './ops/request-log.ts'
import type { RequestListener } from './ops/request-log.ts'
import type { Logger } from './ops/logger.ts'

export interface SidecarOptions {
  /** What the routes serve: inferences, embeddings, feedback, the store's /status facts (see `createGateway`). */
  gateway: Gateway
  /** When set, every inference route needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string
  bodyLimit?: number
  /** Timeouts, connection and concurrency caps (`DEFAULT_LIMITS` for what is not given). */
  limits?: Partial<ServerLimits>
  onRequest?: RequestListener
  metrics?: MetricsSource
  /** Releases what the process owns besides the gateway (the trace exporter) once requests have drained. */
  onShutdown?: () => Promise<void>
  /** Secret values no pass-through error body may carry to the client (`secretValues(config, env)`). */
  secrets?: readonly string[]
  /** The process logger: warnings of the server itself (dropped connections), and for callers after construction. */
  logger?: Logger
}

/** After the drain timeout, how long cut requests get to write their in-stream error event before sockets close. */
const CUT_GRACE_MS = 2000
/** Connections dropped at the cap are logged at most once in this long (with the total so far). */
const DROP_LOG_INTERVAL_MS = 10_000
const RETRY_AFTER_MS = 1000

/** What one config serves with. A reload makes a new one; the old one is released once its last request or tunnel ends. */
interface Generation { gateway: Gateway; passthrough: Passthrough; deps: RouteContext; inFlight: number }

export class Sidecar implements ServerState {
  readonly server: http.Server
  readonly configState: { loadedAt: string; lastReload?: ReloadOutcome } = { loadedAt: new Date().toISOString() }
  private readonly opts: SidecarOptions
  private readonly apiKey?: Buffer
  private current: Generation
  private readonly maxInFlight: number
  private inFlight = 0
  /** Requests past admission that do work (every route but the open probes), for the concurrency cap. */
  private working = 0
  /** Abort controllers of the requests being served: a drain timeout cuts them. */
  private readonly running = new Set<AbortController>()
  private stopping = false
  private idleWaiters: Array<() => void> = []
  private droppedConnections = 0
  private lastDropLog = -Infinity

  constructor (opts: SidecarOptions) {
    this.opts = opts
    this.current = this.generation(opts.gateway, opts.secrets)
    this.apiKey = opts.apiKey === undefined || opts.apiKey === '' ? undefined : Buffer.from(`Bearer ${opts.apiKey}`)
    const limits = { ...DEFAULT_LIMITS, ...opts.limits }
    this.maxInFlight = limits.maxInFlight > 0 ? limits.maxInFlight : Infinity
    this.server = http.createServer(serverOptions(limits), (req, res) => { void this.handle(req, res) })
    if (limits.maxConnections > 0) this.server.maxConnections = limits.maxConnections
    this.server.on('drop', () => { this.connectionDropped(limits.maxConnections) })
    this.server.on('upgrade', (req, socket, head) => { this.upgrade(req, socket, head) })
    this.server.on('clientError', answerClientError)
  }

  /** The gateway new requests are served by. */
  get gateway (): Gateway { return this.current.gateway }

  private generation (gateway: Gateway, secrets: readonly string[] | undefined): Generation {
    const { passthroughUpstream, passthroughAuthorization } = gateway.config.sidecar
    const passthrough = createPassthrough(passthroughUpstream, passthroughAuthorization, secrets)
    const deps: RouteContext = { gateway, bodyLimit: this.opts.bodyLimit ?? DEFAULT_BODY_LIMIT, passthrough, metrics: this.opts.metrics, server: this }
    return { gateway, passthrough, deps, inFlight: 0 }
  }

  /**
   * A reloaded config: requests from now on are served by `gateway`; those in flight (and open WebSocket tunnels)
   * finish on the old one, whose provider and pass-through connections close after the last of them (the store is
   * shared, not closed).
   */
  replaceGateway (gateway: Gateway, secrets = this.opts.secrets): void {
    const old = this.current
    this.current = this.generation(gateway, secrets)
    this.configState.loadedAt = new Date().toISOString()
    if (old.inFlight === 0) this.release(old)
  }

  private release (gen: Generation): void {
    gen.passthrough.close()
    gen.gateway.retire().catch((err: unknown) => { this.opts.logger?.warn({ err }, 'closing the connections of a replaced config failed') })
  }

  async listen (port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => { this.server.off('error', reject); resolve() })
    })
    return this.server.address() as AddressInfo
  }

  /**
   * Drain: the listener stays open for probes (`/status` answers 503 `draining`), new work is refused with 503, what is
   * in flight (open WebSocket tunnels too) finishes for at most `drainMs`. Past it the rest is cut: streams end with an
   * in-stream error event, other answers with a 503, tunnels are closed. `drained` says whether everything finished by
   * itself; `cut` counts what did not.
   */
  async shutdown (drainMs = 30_000): Promise<{ drained: boolean; cut: number }> {
    this.stopping = true
    this.server.closeIdleConnections()
    const drained = await this.whenIdle(drainMs)
    const cut = drained ? 0 : this.running.size
    if (!drained) {
      const reason = new GatewayError(503, `The sidecar is shutting down and its drain timeout (${drainMs} ms) passed`)
      for (const controller of this.running) controller.abort(reason)
      await this.whenIdle(CUT_GRACE_MS)
    }
    const closed = new Promise<void>(resolve => this.server.close(() => resolve()))
    this.server.closeAllConnections()
    await closed
    this.current.passthrough.close()
    await this.current.gateway.close()
    await this.opts.onShutdown?.()
    return { drained, cut }
  }

  /** Resolves true once no request or tunnel is in flight, false if `ms` pass first. */
  private async whenIdle (ms: number): Promise<boolean> {
    if (this.inFlight === 0) return true
    let timer: NodeJS.Timeout | undefined
    let wake: (() => void) | undefined
    const idle = await Promise.race([
      new Promise<boolean>(resolve => { wake = () => resolve(true); this.idleWaiters.push(wake) }),
      new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), ms) })
    ])
    clearTimeout(timer)
    this.idleWaiters = this.idleWaiters.filter(w => w !== wake)
    return idle
  }

  private connectionDropped (max: number): void {
    this.droppedConnections++
    const now = performance.now()
    if (now - this.lastDropLog < DROP_LOG_INTERVAL_MS) return
    this.lastDropLog = now
    this.opts.logger?.warn({ dropped_connections: this.droppedConnections, max_connections: max },
      'connection cap reached (SIDECAR_MAX_CONNECTIONS): new connections are closed at once')
  }

  get logger (): Logger | undefined { return this.opts.logger }

  /** Requests being served right now (streams until they end) and open WebSocket tunnels. */
  get inFlightRequests (): number { return this.inFlight }

  get draining (): boolean { return this.stopping }

  private authorized (req: IncomingMessage): boolean {
    if (this.apiKey === undefined) return true
    const given = req.headers.authorization
    if (given === undefined) return false
    const buf = Buffer.from(given)
    return buf.length === this.apiKey.length && timingSafeEqual(buf, this.apiKey)
  }

  /** Whether a request may start: the API key, a JSON body where the route takes one, and room for its work. */
  private admit (route: Route, req: IncomingMessage): void {
    if (route.open) return
    if (!this.authorized(req)) throw unauthorized()
    if (route.jsonBody && !isJsonContentType(req.headers['content-type'])) {
      throw new GatewayError(415, `Unsupported Content-Type \`${(req.headers['content-type'] ?? '(none)').slice(0, 100)}\`: send \`Content-Type: application/json\``)
    }
    if (this.stopping) throw shuttingDown()
    if (this.working >= this.maxInFlight) {
      throw new GatewayError(503, `The sidecar is serving its limit of ${this.maxInFlight} requests at once (SIDECAR_MAX_IN_FLIGHT): try again shortly`, { retryAfterMs: RETRY_AFTER_MS })
    }
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req.url ?? '/')
    const method = req.method ?? 'GET'
    const route = routeFor(method, path)
    const log = new RequestLog(route.template, method)
    // Server span named like TensorZero's (`POST /openai/v1/chat/completions`): the path only when a row serves it.
    const spanRoute = route.wildcard ? route.template : path
    const server = startServerSpan(`${log.method} ${spanRoute}`, req.headers, () => ({ 'http.request.method': log.method, 'http.route': log.route, 'url.path': spanRoute }))
    const ids = traceIds(server.span)
    if (ids !== undefined) { log.traceId = ids.traceId; log.spanId = ids.spanId }
    const gen = this.current
    const controller = new AbortController()
    const leave = this.enter(gen, controller)
    let working = false
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
      if (working) this.working--
      leave()
      closed = true
      finish()
    })
    if (this.stopping) res.setHeader('connection', 'close')
    try {
      this.admit(route, req)
      if (!route.open) { this.working++; working = true }
      await runInContext(server.context, () => route.handle(gen.deps, req, res, log, controller.signal))
    } catch (err) {
      const error = toGatewayError(err)
      log.error = error
      log.errorClass = errorClassOf(err)
      // A body nobody read must not be left on the socket (a refused request, a 413): read and discard it.
      if (!req.complete) req.resume()
      if (!res.destroyed) sendError(res, error, undefined, route.errorBody)
    } finally {
      settled = true
      finish()
    }
  }

  /**
   * One more request or tunnel in flight on `gen`, until the returned function is called: a drain waits for it (and
   * aborts `controller` past its timeout), and a replaced generation is released only after its last one.
   */
  private enter (gen: Generation, controller: AbortController): () => void {
    this.inFlight++
    gen.inFlight++
    this.running.add(controller)
    return () => {
      this.running.delete(controller)
      this.inFlight--
      if (--gen.inFlight === 0 && gen !== this.current) this.release(gen)
      if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake()
    }
  }

  /**
   * WebSocket upgrades: only to pass-through paths, admitted and confined to `/v1/` like any other pass-through request.
   * An open tunnel is in flight until its socket closes (it does no work of ours, so the concurrency cap leaves it out).
   */
  private upgrade (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = pathOf(req.url ?? '/')
    let refusal = passesThrough(path) ? undefined : new GatewayError(404, `Route not found: WebSocket upgrades go to pass-through \`/v1/…\` paths only`)
    refusal ??= this.authorized(req) ? undefined : unauthorized()
    refusal ??= this.stopping ? shuttingDown() : confinementError(path)
    if (refusal !== undefined) { answerAndDestroy(socket, refusal); return }
    const gen = this.current
    const controller = new AbortController()
    controller.signal.addEventListener('abort', () => { socket.destroy() }, { once: true })
    socket.once('close', this.enter(gen, controller))
    gen.passthrough.ws(req, socket, head)
  }
}

const unauthorized = (): GatewayError => new GatewayError(401, 'Missing or invalid API key: send `Authorization: Bearer <SIDECAR_API_KEY>`')
const shuttingDown = (): GatewayError => new GatewayError(503, 'The sidecar is shutting down: send new requests to another instance', { retryAfterMs: RETRY_AFTER_MS })

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
