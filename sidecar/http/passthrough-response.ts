// A pass-through upstream's answer on its way back. Successful answers (< 400) are piped as http-proxy-3 would pipe
// them (its own outgoing passes: status, headers minus hop-by-hop; nothing buffered, SSE and downloads untouched). An
// error answer (>= 400) may echo the key the sidecar sent (some proxies do): its body is read, bounded at
// `ERROR_BODY_LIMIT` decoded bytes (past it the rest is dropped, the upstream connection closed, and the body ends with
// `TRUNCATED_MARKER`), scrubbed
// of every secret value the sidecar holds (`scrubber`, src/providers/secrets.ts) and sent with its own length.
import zlib from 'node:zlib'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable, Transform } from 'node:stream'
import { scrubber } from '../../src/providers/secrets.ts'

/** Decoded bytes of an upstream error body kept; the rest is dropped. */
export const ERROR_BODY_LIMIT = 64 * 1024
/** Ends an upstream error body that was longer than `ERROR_BODY_LIMIT`. */
export const TRUNCATED_MARKER = '\n[truncated by tz-sidecar]'
/** Replaces an error body whose content-encoding the sidecar cannot decode (so cannot scrub). */
const UNDECODABLE_BODY = '[upstream error body not shown: its content-encoding cannot be scrubbed by tz-sidecar]'

type Pass = (req: IncomingMessage, res: ServerResponse, proxyRes: IncomingMessage, options: object) => void

export interface ResponseHandler {
  (proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse): void
}

function decoderFor (encoding: string): Transform | null | undefined {
  switch (encoding) {
    case '': case 'identity': return null
    case 'gzip': case 'x-gzip': return zlib.createGunzip()
    case 'deflate': return zlib.createInflate()
    case 'br': return zlib.createBrotliDecompress()
    default: return undefined
  }
}

/** The first `limit` decoded bytes of a body, and whether more followed (then the source is left unread). */
async function readBounded (source: Readable, limit: number): Promise<{ body: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = []
  let kept = 0
  let truncated = false
  for await (const chunk of source as AsyncIterable<Buffer>) {
    if (kept + chunk.length > limit) {
      chunks.push(chunk.subarray(0, limit - kept))
      truncated = true
      break
    }
    chunks.push(chunk); kept += chunk.length
  }
  return { body: Buffer.concat(chunks), truncated }
}

/**
 * The `proxyRes` handler for `selfHandleResponse: true`. `passes` are http-proxy-3's own outgoing passes, run with the
 * proxy's `options` exactly as its default path runs them; `secrets` are the values no error body may carry.
 */
export function responseHandler (passes: Pass[], options: object, secrets: readonly string[]): ResponseHandler {
  const scrub = scrubber(secrets) ?? ((text: string) => text)
  // A secret cut by the limit leaves a prefix no value matches: that many trailing characters go with the cut.
  const longest = secrets.reduce((n, s) => Math.max(n, JSON.stringify(s).length - 2), 0)

  return (proxyRes, req, res) => {
    if (res.headersSent) { proxyRes.resume(); return }
    for (const pass of passes) pass(req, res, proxyRes, options)
    if ((proxyRes.statusCode ?? 0) < 400) { proxyRes.pipe(res); return }
    void sendScrubbed(proxyRes, res)
  }

  async function sendScrubbed (proxyRes: IncomingMessage, res: ServerResponse): Promise<void> {
    const encoding = String(proxyRes.headers['content-encoding'] ?? '').trim().toLowerCase()
    const decoder = decoderFor(encoding)
    let text: string
    try {
      if (decoder === undefined) {
        proxyRes.resume()
        text = UNDECODABLE_BODY
      } else {
        const source = decoder === null ? proxyRes : proxyRes.pipe(decoder)
        const { body, truncated } = await readBounded(source, ERROR_BODY_LIMIT)
        // The rest is not read: the upstream connection is closed instead of drained.
        if (truncated) { proxyRes.destroy(); decoder?.destroy() }
        text = scrub(body.toString('utf8'))
        if (truncated) text = text.slice(0, Math.max(0, text.length - longest)) + TRUNCATED_MARKER
      }
    } catch {
      // The upstream cut its answer or sent a corrupt encoding: only what can be shown scrubbed is shown.
      text = UNDECODABLE_BODY
      proxyRes.resume()
    }
    if (res.destroyed || res.writableEnded) return
    const payload = Buffer.from(text)
    res.removeHeader('transfer-encoding')
    res.removeHeader('content-encoding')
    res.setHeader('content-length', payload.length)
    res.end(payload)
  }
}
