// GET /metrics: the Prometheus exposition, when the process set up metrics.
import type { RouteHandler } from './context.ts'
import { GatewayError } from '../../src/core/errors.ts'

export const metrics: RouteHandler = async (ctx, _req, res) => {
  if (ctx.metrics === undefined) throw new GatewayError(404, 'Metrics are not enabled on this sidecar')
  const { contentType, body } = await ctx.metrics()
  res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}
