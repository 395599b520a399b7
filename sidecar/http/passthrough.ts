// Requests the sidecar does not intercept go unchanged to `passthrough_upstream` (http-proxy-3, keep-alive, WebSockets),
// minus the client's Authorization header: that belongs to the sidecar, not to an upstream. Error answers come back
// scrubbed of the sidecar's secrets (passthrough-response.ts); successful ones are piped untouched.
import http from 'node:http'
import https from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { Readable } from 'node:stream'
import { createRequire } from 'node:module'
import { GatewayError } from '../../src/core/errors.ts'
import { sendError } from './respond.ts'
import { responseHandler } from './passthrough-response.ts'
import { sentSecrets } from '../../src/providers/secrets.ts'

export interface Passthrough {
  /** `onError` hears a failure to reach the upstream (answered 502), so the request's log line carries it. */
  web (req: IncomingMessage, res: ServerResponse, body?: Buffer, onError?: (error: GatewayError) => void): void
  ws (req: IncomingMessage, socket: Duplex, head: Buffer): void
  close (): void
}

const TZ_KEY = Buffer.from('"tensorzero::')

// http-proxy-3 loads only when a `passthrough_upstream` is configured (at construction, never per request): ~60 ms
// of a cold start otherwise (bench/).
const requireCjs = createRequire(import.meta.url)

/**
 * An upstream is not TensorZero: `tensorzero::` body fields (episode ids the SDK patch adds, tags…) would be unknown
 * parameters to it (OpenAI answers 400). Drops them from a JSON object body; any other body is returned as it is.
 */
function withoutTensorZeroFields (body: Buffer): Buffer {
  if (!body.includes(TZ_KEY)) return body
  let json: unknown
  try { json = JSON.parse(body.toString('utf8')) } catch { return body }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return body
  let dropped = false
  for (const key of Object.keys(json)) {
    if (key.startsWith('tensorzero::')) { delete (json as Record<string, unknown>)[key]; dropped = true }
  }
  return dropped ? Buffer.from(JSON.stringify(json)) : body
}

/** `/openai/v1/x` is the same route as `/v1/x`: TensorZero's prefix, which upstreams and our router treat as absent. */
export function withoutOpenAIPrefix (url: string): string {
  return url.startsWith('/openai/v1/') ? url.slice('/openai'.length) : url
}

/** The path of a request target, without its query. */
export function pathOf (url: string): string {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

const MAX_DECODES = 4
const SHOWN_PATH_CHARS = 200

/**
 * Why a pass-through path may not be forwarded, or undefined when it is a plain path. An upstream resolves `.` and `..`
 * segments (raw or percent-encoded, even encoded more than once) and may decode `%2f` or `\\` into a separator, which
 * would take the request out of `/v1/` to any route of `passthrough_upstream` (for Ollama, `/api/delete`).
 */
export function confinementError (path: string): GatewayError | undefined {
  const refuse = (why: string): GatewayError => new GatewayError(400,
    `Pass-through path \`${path.slice(0, SHOWN_PATH_CHARS)}${path.length > SHOWN_PATH_CHARS ? '…' : ''}\` is not forwarded: ${why}`)
  for (const raw of path.split('/')) {
    let segment = raw
    for (let i = 0; i < MAX_DECODES && segment.includes('%'); i++) {
      try { segment = decodeURIComponent(segment) } catch { return refuse('malformed percent-encoding') }
    }
    if (segment === '.' || segment === '..') return refuse('`.` and `..` segments (raw or percent-encoded) are not allowed')
    if (segment.includes('/') || segment.includes('\\')) return refuse('an encoded `/` or a `\\` inside a segment is not allowed')
  }
  return undefined
}

/**
 * `secrets`: the values no upstream error body may carry to the client (`secretValues(config, env)`); the key sent as
 * `upstreamAuthorization` is always among them.
 */
export function createPassthrough (upstream: string | undefined, upstreamAuthorization?: string, secrets: readonly string[] = []): Passthrough {
  if (upstream === undefined) {
    const notConfigured = new GatewayError(404, 'This route is not served by the sidecar and no `passthrough_upstream` is configured')
    return {
      web (_req, res) { sendError(res, notConfigured) },
      ws (_req, socket) { socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n') },
      close () {}
    }
  }
  const target = new URL(upstream)
  // http-proxy's default agent sends `connection: close`; a keep-alive agent keeps upstream sockets warm.
  const agent = target.protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true })
  const { createProxyServer } = requireCjs('http-proxy-3') as typeof import('http-proxy-3')
  const options = { target: upstream, changeOrigin: true, agent, xfwd: true, ws: true, selfHandleResponse: true }
  const proxy = createProxyServer(options)
  // The response is ours to write (to scrub error bodies), with http-proxy-3's own outgoing passes for the head.
  const { OUTGOING_PASSES } = requireCjs('http-proxy-3/dist/lib/http-proxy/passes/web-outgoing') as
    { OUTGOING_PASSES: Record<string, Parameters<typeof responseHandler>[0][number]> }
  const sent = upstreamAuthorization === undefined ? [] : sentSecrets({ authorization: upstreamAuthorization })
  proxy.on('proxyRes', responseHandler(Object.values(OUTGOING_PASSES), options, [...new Set([...secrets, ...sent])]))

  const stripAuthorization = (proxyReq: http.ClientRequest): void => {
    proxyReq.removeHeader('authorization')
    if (upstreamAuthorization !== undefined) proxyReq.setHeader('authorization', upstreamAuthorization)
  }
  proxy.on('proxyReq', stripAuthorization)
  proxy.on('proxyReqWs', stripAuthorization)
  const upstreamFailed = (err: Error): GatewayError =>
    new GatewayError(502, `passthrough upstream ${target.origin} failed: ${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`.trim())
  proxy.on('error', (err: Error, _req: unknown, resOrSocket: unknown) => {
    if (resOrSocket instanceof http.ServerResponse) sendError(resOrSocket, upstreamFailed(err))
    else (resOrSocket as Duplex | undefined)?.destroy()
  })

  return {
    web (req, res, body, onError) {
      req.url = withoutOpenAIPrefix(req.url ?? '/')
      const failed = (err: Error): void => {
        const error = upstreamFailed(err)
        onError?.(error)
        sendError(res, error)
      }
      if (body === undefined) { proxy.web(req, res, {}, failed); return }
      const forwarded = withoutTensorZeroFields(body)
      // The body was read (and maybe changed): send it with its own length.
      req.headers['content-length'] = String(forwarded.length)
      delete req.headers['transfer-encoding']
      proxy.web(req, res, { buffer: Readable.from([forwarded]) }, failed)
    },
    ws (req, socket, head) {
      req.url = withoutOpenAIPrefix(req.url ?? '/')
      proxy.ws(req, socket, head)
    },
    close () {
      proxy.close()
      agent.destroy()
    }
  }
}
