// TensorZero's namespaces: a model or variant with a `namespace` may only be sampled by that namespace's experiment.
// The gateway refuses a config where the base experiment, or another namespace's, can reach such a variant.
import type { Experimentation, FunctionConfig, ModelConfig, VariantConfig } from '../core/config.ts'
import { RESERVED_PREFIX } from '../core/names.ts'
import type { LoadContext, TableReader } from './reader.ts'

/** `namespace` of a model or variant, checked as TensorZero checks one. */
export function readNamespace (r: TableReader): string | undefined {
  const namespace = r.string('namespace')
  if (namespace === undefined) return undefined
  if (namespace === '') r.error('namespace', `\`${r.name('namespace')}\`: Namespace identifier cannot be empty`)
  else if (namespace.startsWith(RESERVED_PREFIX)) r.error('namespace', `\`${r.name('namespace')}\`: Namespace cannot start with \`${RESERVED_PREFIX}\`: ${namespace}`)
  else return namespace
  return undefined
}

/** The variants an experiment could sample (TensorZero's `could_sample_variant`): all, when it names none. */
function reachable (exp: Experimentation, fn: FunctionConfig): Set<string> {
  const named = exp.type === 'static'
    ? [...exp.candidates.keys(), ...exp.fallbacks]
    : exp.type === 'track_and_stop'
      ? [...exp.candidates, ...exp.fallbacks]
      // Legacy weights: weight > 0 are candidates, no weight a fallback, weight 0 never sampled.
      : exp.type === 'legacy_weights' ? [...fn.variants.values()].filter(v => v.weight !== 0).map(v => v.name) : []
  return new Set(named.length === 0 ? fn.variants.keys() : named)
}

/** Every model a variant calls: its own, its evaluator's or fuser's, and its candidates' (TensorZero's `all_model_names`). */
function variantModelNames (variant: VariantConfig, fn: FunctionConfig, seen = new Set<string>()): string[] {
  if (seen.has(variant.name)) return []
  seen.add(variant.name)
  const own = [variant.model, variant.judge?.model].filter((m): m is string => m !== undefined)
  const candidates = (variant.candidates ?? []).flatMap(name => {
    const candidate = fn.variants.get(name)
    return candidate === undefined ? [] : variantModelNames(candidate, fn, seen)
  })
  return [...own, ...candidates]
}

/** A model with a `namespace` that a variant calls. */
interface NamespacedModel { name: string; namespace: string }

const namespacedByVariant = new WeakMap<VariantConfig, NamespacedModel[]>()

/**
 * The namespaced models a variant calls, each once in the order it calls them (almost always none). Worked out when
 * the config is loaded and remembered, so a request pinning the variant only walks this list.
 */
export function namespacedModelsOf (variant: VariantConfig, fn: FunctionConfig, models: Map<string, ModelConfig>): NamespacedModel[] {
  let namespaced = namespacedByVariant.get(variant)
  if (namespaced === undefined) {
    namespaced = [...new Set(variantModelNames(variant, fn))]
      .flatMap(name => { const namespace = models.get(name)?.namespace; return namespace === undefined ? [] : [{ name, namespace }] })
    namespacedByVariant.set(variant, namespaced)
  }
  return namespaced
}

/**
 * TensorZero refuses to start when an experiment other than the namespace's own (the base one, or another
 * namespace's) can reach a namespaced variant, or a variant using a namespaced model.
 */
export function checkNamespacedVariants (fn: FunctionConfig, models: Map<string, ModelConfig>, ctx: LoadContext): void {
  const experiments: Array<[string | undefined, Set<string>]> = [[undefined, reachable(fn.experimentation, fn)]]
  for (const [name, exp] of fn.namespaceExperimentation ?? []) experiments.push([name, reachable(exp, fn)])
  const from = (experiment: string | undefined): string => experiment === undefined ? 'the base experimentation config' : `namespace \`${experiment}\` experimentation config`
  for (const variant of fn.variants.values()) {
    const namespacedModels = namespacedModelsOf(variant, fn, models)
    for (const [experiment, variants] of experiments) {
      if (!variants.has(variant.name)) continue
      const model = namespacedModels.find(m => m.namespace !== experiment)
      if (model !== undefined) {
        ctx.diags.error(variant.source, `Variant \`${variant.name}\` of function \`${fn.name}\` uses model \`${model.name}\` which has namespace` +
          ` \`${model.namespace}\`, but the variant is reachable from ${from(experiment)}. Namespaced model variants must only be` +
          ' reachable from a matching namespace experimentation config.')
      } else if (variant.namespace !== undefined && variant.namespace !== experiment) {
        ctx.diags.error(variant.source, `Variant \`${variant.name}\` of function \`${fn.name}\` has namespace \`${variant.namespace}\`, but is reachable from` +
          ` ${from(experiment)}. Namespaced variants must only be reachable from a matching namespace experimentation config.`)
      } else continue
      break
    }
  }
}
