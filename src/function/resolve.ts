// Maps a request's `model` to what serves it, in this order: `tensorzero::` names → [routes] (exact, then globs in
// file order) → config names → `provider::model` shorthand → the unmatched policy. The only place that decides a
// function, variant or model exists: every answer carries the config objects it found, so nobody looks them up again.
import type { LoadedConfig, RouteTarget, ModelConfig, EmbeddingModelConfig, FunctionConfig, VariantConfig } from '../core/config.ts'
import type { InferenceTarget } from '../core/request.ts'
import type { ExtraEntryFilter } from '../core/types.ts'
import { GatewayError, badRequest } from '../core/errors.ts'
import { parseTargetName, RESERVED_PREFIX, FUNCTION_NAME_PREFIX, MODEL_NAME_PREFIX, EMBEDDING_MODEL_NAME_PREFIX } from '../core/names.ts'
import { nearestNames, echoedName } from './nearest.ts'
import { defaultFunctionFor } from './default-function.ts'
import { parseShorthand, shorthandModel } from '../config/models.ts'

export type EmbeddingTarget = { kind: 'embedding_model'; modelName: string; model: EmbeddingModelConfig }
export type Resolution = InferenceTarget | EmbeddingTarget | { kind: 'passthrough' }

/** Longer shorthand names are resolved each time rather than cached (a cache of client-chosen megabytes is a leak). */
const MAX_CACHED_NAME_LENGTH = 512

/** Shorthands named in a request rather than in a file. */
const REQUEST_SOURCE = { file: '<request>', line: 0, col: 0 }

export class TargetResolver {
  private readonly config: LoadedConfig
  /** Shorthand models built on first use (`openai::gpt-4o-mini`), so later requests reuse one ModelConfig. */
  private readonly shorthands = new Map<string, ModelConfig | null>()
  /** [routes] targets, each resolved on first use and then reused. */
  private readonly routes = new WeakMap<RouteTarget, Resolution>()

  constructor (config: LoadedConfig) {
    this.config = config
  }

  resolve (model: string): Resolution {
    if (model.startsWith(RESERVED_PREFIX)) return this.resolvePrefixed(model)
    const { sidecar, tensorzero } = this.config
    const exact = sidecar.exactRoutes.get(model)
    if (exact !== undefined) return this.route(exact)
    for (const route of sidecar.globRoutes) {
      if (route.glob.test(model)) return this.route(route.target)
    }
    const fn = tensorzero.functions.get(model)
    if (fn !== undefined) return { kind: 'function', functionName: model, fn }
    const configured = tensorzero.models.get(model)
    if (configured !== undefined) return modelTarget(configured)
    const embedding = tensorzero.embeddingModels.get(model)
    if (embedding !== undefined) return { kind: 'embedding_model', modelName: model, model: embedding }
    const shorthand = model.includes('::') ? this.shorthand(model) : undefined
    if (shorthand !== undefined) return modelTarget(shorthand)
    if (sidecar.unmatched === 'passthrough' && sidecar.passthroughUpstream !== undefined) return { kind: 'passthrough' }
    const suggestions = nearestNames(model, this.knownNames())
    throw new GatewayError(404, `Unknown model \`${echoedName(model)}\`: no route, function or model of that name is configured for this sidecar` +
      (suggestions.length > 0 ? `. Nearest known names: ${suggestions.map(s => `\`${s}\``).join(', ')}` : ''))
  }

  /** The model a variant calls; the loader checked it, so a miss is a config built by hand, not the client's fault. */
  variantModel (variant: VariantConfig): ModelConfig {
    const model = variant.model === undefined ? undefined : this.model(variant.model)
    if (model === undefined) throw new GatewayError(500, `variant \`${variant.name}\` names unknown model \`${variant.model ?? ''}\``)
    return model
  }

  /** An embedding model by name: an `[embedding_models]` table or a valid shorthand. */
  embeddingModel (name: string): EmbeddingModelConfig {
    const model = this.config.tensorzero.embeddingModels.get(name) ?? this.shorthand(name)
    if (model === undefined) throw new GatewayError(404, `Unknown embedding model: ${echoedName(name)}`)
    return model
  }

  /**
   * TensorZero's check of the request's `extra_body`/`extra_headers` filters: a `variant_name` must be a variant of the
   * function (a 404, as for any unknown variant; not checked for a model target, which has no function of its own), a
   * `model_name` a model (a `[models]` key or a shorthand), and a `provider_name` one of that model's providers.
   */
  checkEntryFilters (target: InferenceTarget, entries: ExtraEntryFilter[]): void {
    for (const { variantName, modelName, providerName } of entries) {
      if (variantName !== undefined && target.kind === 'function') variantOf(target.fn, variantName)
      if (modelName === undefined) continue
      const model = this.model(modelName)
      if (model === undefined) {
        throw badRequest(`Invalid inference target: Invalid model provider filter: model \`${echoedName(modelName)}\` does not exist.`)
      }
      if (providerName !== undefined && !model.providers.has(providerName)) {
        throw badRequest(`Invalid inference target: Invalid model provider filter: provider \`${echoedName(providerName)}\` not found in model \`${echoedName(modelName)}\`.`)
      }
    }
  }

  /** A chat model by name: a `[models]` table (wins) or a valid shorthand. */
  private model (name: string): ModelConfig | undefined {
    return this.config.tensorzero.models.get(name) ?? this.shorthand(name)
  }

  private shorthand (name: string): ModelConfig | undefined {
    const cached = this.shorthands.get(name)
    if (cached !== undefined) return cached ?? undefined
    const parsed = parseShorthand(name)
    const model = parsed === undefined || 'problem' in parsed ? null : shorthandModel(name, parsed.type, parsed.modelName, REQUEST_SOURCE)
    // Bounded in count and size, because clients choose these names.
    if (this.shorthands.size < 10_000 && name.length <= MAX_CACHED_NAME_LENGTH) this.shorthands.set(name, model)
    return model ?? undefined
  }

  private resolvePrefixed (model: string): Resolution {
    const target = parseTargetName(model)
    if (target === undefined) {
      throw new GatewayError(400, `Invalid model name \`${echoedName(model)}\`: a \`tensorzero::\` model must start with \`${FUNCTION_NAME_PREFIX}\`, \`${MODEL_NAME_PREFIX}\` or \`${EMBEDDING_MODEL_NAME_PREFIX}\``)
    }
    const [field, name] = target.kind === 'function'
      ? ['function_name', target.functionName]
      : [target.kind === 'model' ? 'model_name' : 'embedding_model_name', target.modelName]
    if (name === '') throw badRequest(`${field} (passed in model field after "${RESERVED_PREFIX}${field}::") cannot be empty`)
    return this.target(target)
  }

  private route (target: RouteTarget): Resolution {
    let resolved = this.routes.get(target)
    if (resolved === undefined) {
      resolved = this.target(target)
      this.routes.set(target, resolved)
    }
    return resolved
  }

  private target (target: RouteTarget): Resolution {
    switch (target.kind) {
      case 'function': {
        const fn = this.config.tensorzero.functions.get(target.functionName)
        if (fn === undefined) throw new GatewayError(404, `Unknown function: ${echoedName(target.functionName)}`)
        const resolved: InferenceTarget = { kind: 'function', functionName: target.functionName, fn }
        return target.variantName === undefined ? resolved : pinVariant(resolved, target.variantName)
      }
      case 'model': {
        const model = this.model(target.modelName)
        // The loader checked every route's model, so only a `tensorzero::model_name::` request misses here: a bad target (400).
        if (model === undefined) throw badRequest(`Invalid model name: Model name '${echoedName(target.modelName)}' not found in model table`)
        return modelTarget(model)
      }
      case 'embedding_model':
        return { kind: 'embedding_model', modelName: target.modelName, model: this.embeddingModel(target.modelName) }
    }
  }

  private knownNames (): string[] {
    const { sidecar, tensorzero } = this.config
    return [...sidecar.exactRoutes.keys(), ...tensorzero.functions.keys(), ...tensorzero.models.keys(), ...tensorzero.embeddingModels.keys()]
  }
}

/** A model runs through TensorZero's default function, pinned to its one variant. */
function modelTarget (model: ModelConfig): InferenceTarget {
  const fn = defaultFunctionFor(model)
  return { kind: 'model', modelName: model.name, model, fn, variant: fn.variants.get(model.name) as VariantConfig }
}

/** `tensorzero::variant_name`: the variant runs alone, without sampling or fallback. */
export function pinVariant (target: InferenceTarget, variantName: string): InferenceTarget {
  if (target.kind === 'model') throw badRequest('`variant_name` cannot be provided when using `model_name`')
  const variant = variantOf(target.fn, variantName)
  return { kind: 'function', functionName: target.functionName, variantName, fn: target.fn, variant }
}

function variantOf (fn: FunctionConfig, name: string): VariantConfig {
  const variant = fn.variants.get(name)
  if (variant === undefined) throw new GatewayError(404, `Unknown variant: ${echoedName(name)}`)
  return variant
}
