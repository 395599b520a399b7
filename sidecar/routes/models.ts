// GET /v1/models: every name this sidecar can serve, from its routes and the TensorZero config.
import type { LoadedConfig } from '../../src/core/config.ts'

export function modelsBody (config: LoadedConfig): { object: 'list'; data: Array<{ id: string; object: 'model'; created: number; owned_by: string }> } {
  const ids: string[] = []
  const { sidecar, tensorzero } = config
  ids.push(...sidecar.exactRoutes.keys())
  for (const name of tensorzero.functions.keys()) ids.push(name, `tensorzero::function_name::${name}`)
  for (const [name, model] of tensorzero.models) if (!model.shorthand) ids.push(name, `tensorzero::model_name::${name}`)
  for (const name of tensorzero.embeddingModels.keys()) ids.push(name, `tensorzero::embedding_model_name::${name}`)
  const owner = sidecar.service
  return { object: 'list', data: [...new Set(ids)].map(id => ({ id, object: 'model', created: 0, owned_by: owner })) }
}
