// GET /v1/models: every name this sidecar can serve, from its routes and the TensorZero config.
import type { RouteHandler } from './context.ts'
import { sendJson } from '../http/respond.ts'

export const models: RouteHandler = (ctx, _req, res) => {
  const { sidecar, tensorzero } = ctx.gateway.config
  const ids: string[] = [...sidecar.exactRoutes.keys()]
  for (const name of tensorzero.functions.keys()) ids.push(name, `tensorzero::function_name::${name}`)
  for (const [name, model] of tensorzero.models) if (!model.shorthand) ids.push(name, `tensorzero::model_name::${name}`)
  for (const name of tensorzero.embeddingModels.keys()) ids.push(name, `tensorzero::embedding_model_name::${name}`)
  const owner = sidecar.service
  sendJson(res, 200, { object: 'list', data: [...new Set(ids)].map(id => ({ id, object: 'model', created: 0, owned_by: owner })) })
}
