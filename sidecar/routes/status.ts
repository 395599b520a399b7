// GET /status: readiness (503 while draining), with the config's size and the store's facts (ClickHouse, spool).
import type { RouteHandler } from './context.ts'
import { sendJson } from '../http/respond.ts'

export const status: RouteHandler = (ctx, _req, res) => {
  const { draining, inFlightRequests } = ctx.server
  const { config } = ctx.gateway
  const tz = config.tensorzero
  sendJson(res, draining ? 503 : 200, {
    status: draining ? 'draining' : 'ready',
    service: config.sidecar.service,
    config: {
      files: tz.files,
      functions: tz.functions.size,
      models: tz.models.size,
      embedding_models: tz.embeddingModels.size
    },
    // This request is not load.
    in_flight: inFlightRequests - 1,
    ...ctx.gateway.status()
  })
}
