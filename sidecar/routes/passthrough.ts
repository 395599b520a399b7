// Any other `/v1/…` request, whatever its method: forwarded unchanged to `passthrough_upstream`, if its path stays
// under `/v1/` (no `..` segments, raw or encoded).
import type { RouteHandler } from './context.ts'
import { readBody } from '../http/body.ts'
import { confinementError, pathOf } from '../http/passthrough.ts'
import type { GatewayError } from '../../src/core/errors.ts'
import type { RequestLog } from '../ops/request-log.ts'

/** An upstream that cannot be reached is the request's error: its log line says so at error level, with the text. */
export function upstreamFailure (log: RequestLog): (error: GatewayError) => void {
  return error => { log.error = error; log.errorClass = 'connection' }
}

export const passthrough: RouteHandler = async (ctx, req, res, log) => {
  log.passthrough = true
  const escape = confinementError(pathOf(req.url ?? '/'))
  if (escape !== undefined) throw escape
  // JSON bodies are read (bounded) so `tensorzero::` fields never reach a non-TensorZero upstream;
  // everything else (uploads, GETs) streams through untouched.
  const body = req.method === 'POST' && (req.headers['content-type'] ?? '').includes('json') ? await readBody(req, ctx.bodyLimit) : undefined
  ctx.passthrough.web(req, res, body, upstreamFailure(log))
}
