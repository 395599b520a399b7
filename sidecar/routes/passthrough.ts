// Any other `/v1/…` request, whatever its method: forwarded unchanged to `passthrough_upstream`.
import type { RouteHandler } from './context.ts'
import { readBody } from '../http/body.ts'

export const passthrough: RouteHandler = async (ctx, req, res, log) => {
  log.passthrough = true
  // JSON bodies are read (bounded) so `tensorzero::` fields never reach a non-TensorZero upstream;
  // everything else (uploads, GETs) streams through untouched.
  if (req.method === 'POST' && (req.headers['content-type'] ?? '').includes('json')) {
    ctx.passthrough.web(req, res, await readBody(req, ctx.bodyLimit))
  } else {
    ctx.passthrough.web(req, res)
  }
}
