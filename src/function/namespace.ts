// A request's namespace at inference, as TensorZero checks it: a namespaced model serves only requests of its
// namespace, whether named directly (`tensorzero::model_name::M`) or called by a pinned variant (its own model, its
// evaluator's or fuser's, its candidates'). A sampled variant needs no check: the loader refused every config where
// an experiment can reach a namespaced model of another namespace.
import type { ModelConfig } from '../core/config.ts'
import type { InferenceTarget } from '../core/request.ts'
import { badRequest } from '../core/errors.ts'
import { namespacedModelsOf } from '../config/namespaces.ts'

const shown = (namespace: string | undefined): string => namespace === undefined ? '`None`' : `\`${namespace}\``

export function checkRequestNamespace (target: InferenceTarget, namespace: string | undefined, models: Map<string, ModelConfig>): void {
  if (target.kind === 'model') {
    const own = target.model.namespace
    if (own !== undefined && own !== namespace) {
      throw badRequest(`Model \`${target.modelName}\` has namespace \`${own}\`, but the request namespace is ${shown(namespace)}.` +
        ' Namespaced models can only be used with a matching namespace.')
    }
    return
  }
  const pinned = target.variant
  if (pinned === undefined) return
  for (const { name: modelName, namespace: own } of namespacedModelsOf(pinned, target.fn, models)) {
    if (own !== namespace) {
      throw badRequest(`Variant \`${pinned.name}\` uses model \`${modelName}\` which has namespace \`${own}\`, but the request namespace is` +
        ` ${shown(namespace)}. Namespaced models can only be used with a matching namespace.`)
    }
  }
}
