// TensorZero's namespaces: a model or variant with a `namespace` may only be sampled by that namespace's experiment.
// The sidecar serves every request from the base experiment, so it checks the keys and the one rule that makes the
// gateway refuse a config (a namespaced model or variant the base experiment can reach), and applies nothing else.
import type { FunctionConfig, ModelConfig, VariantConfig } from '../core/config.ts'
import { RESERVED_PREFIX } from '../core/names.ts'
import type { LoadContext, TableReader } from './reader.ts'

/** `namespace` of a model or variant, checked as TensorZero checks one; a warning says what the sidecar does not do. */
export function readNamespace (r: TableReader, unused: string): string | undefined {
  const namespace = r.string('namespace')
  if (namespace === undefined) return undefined
  if (namespace === '') r.error('namespace', `\`${r.name('namespace')}\`: Namespace identifier cannot be empty`)
  else if (namespace.startsWith(RESERVED_PREFIX)) r.error('namespace', `\`${r.name('namespace')}\`: Namespace cannot start with \`${RESERVED_PREFIX}\`: ${namespace}`)
  else {
    r.warning('namespace', `\`${r.name('namespace')}\` is not used by tz-sidecar (${unused})`)
    return namespace
  }
  return undefined
}

/** The variants the base experiment could sample (TensorZero's `could_sample_variant`): all, when it names none. */
function baseReachable (fn: FunctionConfig): Set<string> {
  const exp = fn.experimentation
  const named = exp.type === 'static'
    ? [...exp.candidates.keys(), ...exp.fallbacks]
    : exp.type === 'track_and_stop'
      ? [...exp.candidates, ...exp.fallbacks]
      // Legacy weights: weight > 0 are candidates, no weight a fallback, weight 0 never sampled.
      : exp.type === 'legacy_weights' ? [...fn.variants.values()].filter(v => v.weight !== 0).map(v => v.name) : []
  return new Set(named.length === 0 ? fn.variants.keys() : named)
}

/** Every model a variant calls: its own, its evaluator's or fuser's, and its candidates' (TensorZero's `all_model_names`). */
function modelNames (variant: VariantConfig, fn: FunctionConfig, seen = new Set<string>()): string[] {
  if (seen.has(variant.name)) return []
  seen.add(variant.name)
  const own = [variant.model, variant.judge?.model].filter((m): m is string => m !== undefined)
  const candidates = (variant.candidates ?? []).flatMap(name => {
    const candidate = fn.variants.get(name)
    return candidate === undefined ? [] : modelNames(candidate, fn, seen)
  })
  return [...own, ...candidates]
}

/** TensorZero refuses to start when the base experiment can reach a namespaced variant, or a variant using a namespaced model. */
export function checkNamespacedVariants (fn: FunctionConfig, models: Map<string, ModelConfig>, ctx: LoadContext): void {
  const reachable = baseReachable(fn)
  for (const variant of fn.variants.values()) {
    if (!reachable.has(variant.name)) continue
    const raw = variant.raw.namespace
    // A namespace refused by readNamespace is reported there already.
    const own = typeof raw === 'string' && raw !== '' && !raw.startsWith(RESERVED_PREFIX) ? raw : undefined
    if (own !== undefined) {
      ctx.diags.error(variant.source, `Variant \`${variant.name}\` of function \`${fn.name}\` has namespace \`${own}\`, but is reachable from the` +
        ' base experimentation config. Namespaced variants must only be reachable from a matching namespace experimentation config.')
      continue
    }
    for (const modelName of new Set(modelNames(variant, fn))) {
      const namespace = models.get(modelName)?.namespace
      if (namespace === undefined) continue
      ctx.diags.error(variant.source, `Variant \`${variant.name}\` of function \`${fn.name}\` uses model \`${modelName}\` which has namespace` +
        ` \`${namespace}\`, but the variant is reachable from the base experimentation config. Namespaced model variants must only be` +
        ' reachable from a matching namespace experimentation config.')
      break
    }
  }
}
