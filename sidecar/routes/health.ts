// GET /health: liveness. The process answers, so it is alive; readiness is /status.
import type { RouteHandler } from './context.ts'
import { sendJson } from '../http/respond.ts'

export const health: RouteHandler = (_ctx, _req, res) => {
  sendJson(res, 200, { status: 'ok' })
}
