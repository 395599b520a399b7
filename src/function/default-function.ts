// `tensorzero::model_name::M` runs through TensorZero's built-in chat function `tensorzero::default`,
// with one `chat_completion` variant named after the model.
import type { FunctionConfig, ModelConfig, VariantConfig } from '../core/config.ts'
import { DEFAULT_FUNCTION_NAME } from '../core/names.ts'

// Keyed by the model object, which the resolver keeps for the life of its config.
const cache = new WeakMap<ModelConfig, FunctionConfig>()

export function defaultFunctionFor (model: ModelConfig): FunctionConfig {
  let fn = cache.get(model)
  if (fn === undefined) {
    const variant: VariantConfig = {
      name: model.name,
      type: 'chat_completion',
      model: model.name,
      templates: {},
      params: {},
      retries: { numRetries: 0, maxDelayS: 10 },
      timeouts: {},
      raw: {},
      source: model.source
    }
    fn = {
      name: DEFAULT_FUNCTION_NAME,
      type: 'chat',
      variants: new Map([[model.name, variant]]),
      sortedVariantNames: [model.name],
      experimentation: { type: 'uniform' },
      schemas: {},
      tools: [],
      toolChoice: 'auto',
      source: model.source
    }
    cache.set(model, fn)
  }
  return fn
}
