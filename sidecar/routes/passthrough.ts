// Any other `/v1/…` request, whatever its method: forwarded unchanged to `passthrough_upstream`, if its path stays
// under `/v1/` (no `..` segments, raw or encoded).
import type { RouteHandler } from './context.ts'
import { readBody } from '../http/body.ts'
import { confinementError, pathOf } from '../http/passthrough.ts'

export const passthrough: RouteHandler = async (ctx, req, res, log) => {
  log.passthrough = true
  const escape = confinementError(pathOf(req.url ?? '/'))
  if (escape !== undefined) throw escape
  // JSON bodies are read (bounded) so `tensorzero::` fields never reach a non-TensorZero upstream;
  // everything else (uploads, GETs) streams through untouched.
  if (req.method === 'POST' && (req.headers['content-type'] ?? '').includes('json')) {
    ctx.passthrough.web(req, res, await readBody(req, ctx.bodyLimit))
  } else {
    ctx.passthrough.web(req, res)
  }
}
