// GET /v1/models: every name this sidecar can serve, from its routes and the TensorZero config; GET /v1/models/{id}:
// one of them, as OpenAI answers it; with `unmatched = "passthrough"`, any other name goes to `passthrough_upstream`
// (the models are the upstream's to describe); otherwise OpenAI's 404 `model_not_found`.
import type { RouteContext, RouteHandler } from './context.ts'
import { sendJson } from '../http/respond.ts'
import { pathOf, withoutOpenAIPrefix } from '../http/passthrough.ts'
import { passthrough } from './passthrough.ts'

const MODEL_PATH_PREFIX = '/v1/models/'
/** Of an id nobody serves, this much is echoed back in the 404. */
const SHOWN_ID_CHARS = 200

function servedIds (ctx: RouteContext): string[] {
  const { sidecar, tensorzero } = ctx.gateway.config
  const ids: string[] = [...sidecar.exactRoutes.keys()]
  for (const name of tensorzero.functions.keys()) ids.push(name, `tensorzero::function_name::${name}`)
  for (const [name, model] of tensorzero.models) if (!model.shorthand) ids.push(name, `tensorzero::model_name::${name}`)
  for (const name of tensorzero.embeddingModels.keys()) ids.push(name, `tensorzero::embedding_model_name::${name}`)
  return [...new Set(ids)]
}

function modelObject (ctx: RouteContext, id: string): Record<string, unknown> {
  return { id, object: 'model', created: 0, owned_by: ctx.gateway.config.sidecar.service }
}

export const models: RouteHandler = (ctx, _req, res) => {
  sendJson(res, 200, { object: 'list', data: servedIds(ctx).map(id => modelObject(ctx, id)) })
}

/** Listed here, to be passed through (as chat would), or unknown. */
function servedAs (ctx: RouteContext, id: string): 'served' | 'passthrough' | 'unknown' {
  if (servedIds(ctx).includes(id)) return 'served'
  try {
    return ctx.gateway.resolve(id).kind === 'passthrough' ? 'passthrough' : 'unknown'
  } catch {
    return 'unknown'
  }
}

export const model: RouteHandler = async (ctx, req, res, log, signal) => {
  // Everything after the prefix is the id: names may hold `/` and `::`, which clients send percent-encoded.
  const raw = withoutOpenAIPrefix(pathOf(req.url ?? '')).slice(MODEL_PATH_PREFIX.length)
  let id = raw
  try { id = decodeURIComponent(raw) } catch { /* not percent-encoded as a whole: matched as sent */ }
  const served = servedAs(ctx, id)
  if (served === 'served') { sendJson(res, 200, modelObject(ctx, id)); return }
  if (served === 'passthrough') { await passthrough(ctx, req, res, log, signal); return }
  const shown = id.length > SHOWN_ID_CHARS ? `${id.slice(0, SHOWN_ID_CHARS)}…` : id
  sendJson(res, 404, { error: { message: `The model \`${shown}\` does not exist or you do not have access to it.`, type: 'invalid_request_error', param: null, code: 'model_not_found' } })
}
