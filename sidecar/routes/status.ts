// GET /status: readiness (503 while draining, or while the spool cannot be written), with the config's size and the
// store's facts (ClickHouse, spool).
import type { RouteHandler } from './context.ts'
import { sendJson } from '../http/respond.ts'

export const status: RouteHandler = (ctx, _req, res) => {
  const { draining, inFlightRequests, configState } = ctx.server
  const last = configState.lastReload
  const { config } = ctx.gateway
  const tz = config.tensorzero
  const store = ctx.gateway.status()
  const spoolError = 'spoolError' in store ? store.spoolError : undefined
  const state = draining ? 'draining' : spoolError !== undefined ? 'not_ready' : 'ready'
  sendJson(res, state === 'ready' ? 200 : 503, {
    status: state,
    ...(state === 'not_ready' ? { reason: `the spool cannot be written, observability rows are being dropped: ${spoolError}` } : {}),
    service: config.sidecar.service,
    config: {
      files: tz.files,
      functions: tz.functions.size,
      models: tz.models.size,
      embedding_models: tz.embeddingModels.size,
      loaded_at: configState.loadedAt,
      ...(last === undefined ? {} : { last_reload: { at: last.at, trigger: last.trigger, ok: last.ok, errors: last.errors, restart_needed: last.restartNeeded } })
    },
    // This request is not load.
    in_flight: inFlightRequests - 1,
    ...store
  })
}
