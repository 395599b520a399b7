// Maps a request's `model` to what serves it, in ARCHITECTURE.md's order:
// tensorzero:: prefixes → [routes] (exact, then globs in file order) → config names → provider::model shorthand → unmatched policy.
import type { LoadedConfig, RouteTarget, ModelConfig } from '../core/config.ts'
import { GatewayError } from '../core/errors.ts'
import { nearestNames } from './nearest.ts'
import { parseShorthand, shorthandModel } from '../config/models.ts'

export type Resolution = RouteTarget | { kind: 'passthrough' }

const FUNCTION_PREFIX = 'tensorzero::function_name::'
const MODEL_PREFIX = 'tensorzero::model_name::'
const EMBEDDING_PREFIX = 'tensorzero::embedding_model_name::'
const VARIANT_INFIX = '::variant_name::'

/** Shorthands named in a request rather than in a file. */
const REQUEST_SOURCE = { file: '<request>', line: 0, col: 0 }

export class TargetResolver {
  private readonly config: LoadedConfig
  /** Shorthand models built on first use (`openai::gpt-4o-mini`), so later requests reuse one ModelConfig. */
  private readonly shorthands = new Map<string, ModelConfig | null>()

  constructor (config: LoadedConfig) {
    this.config = config
  }

  resolve (model: string): Resolution {
    if (model.startsWith('tensorzero::')) return this.resolvePrefixed(model)
    const { sidecar, tensorzero } = this.config
    const exact = sidecar.exactRoutes.get(model)
    if (exact !== undefined) return exact
    for (const route of sidecar.globRoutes) {
      if (route.regex.test(model)) return route.target
    }
    if (tensorzero.functions.has(model)) return { kind: 'function', functionName: model }
    if (tensorzero.models.has(model)) return { kind: 'model', modelName: model }
    if (tensorzero.embeddingModels.has(model)) return { kind: 'embedding_model', modelName: model }
    if (model.includes('::') && this.model(model) !== undefined) return { kind: 'model', modelName: model }
    if (sidecar.unmatched === 'passthrough' && sidecar.passthroughUpstream !== undefined) return { kind: 'passthrough' }
    const suggestions = nearestNames(model, this.knownNames())
    throw new GatewayError(404, `Unknown model \`${model}\`: no route, function or model of that name is configured for this sidecar` +
      (suggestions.length > 0 ? `. Nearest known names: ${suggestions.map(s => `\`${s}\``).join(', ')}` : ''))
  }

  /** A chat model by name: a `[models]` table (wins) or a valid shorthand. */
  model (name: string): ModelConfig | undefined {
    const configured = this.config.tensorzero.models.get(name)
    if (configured !== undefined) return configured
    return this.shorthand(name)
  }

  embeddingModel (name: string): ModelConfig | undefined {
    return this.config.tensorzero.embeddingModels.get(name) ?? this.shorthand(name)
  }

  private shorthand (name: string): ModelConfig | undefined {
    const cached = this.shorthands.get(name)
    if (cached !== undefined) return cached ?? undefined
    const parsed = parseShorthand(name)
    const model = parsed === undefined || 'problem' in parsed ? null : shorthandModel(name, parsed.type, parsed.modelName, REQUEST_SOURCE)
    // Bounded, because clients choose these names.
    if (this.shorthands.size < 10_000) this.shorthands.set(name, model)
    return model ?? undefined
  }

  private resolvePrefixed (model: string): Resolution {
    if (model.startsWith(FUNCTION_PREFIX)) {
      const rest = model.slice(FUNCTION_PREFIX.length)
      const at = rest.indexOf(VARIANT_INFIX)
      const functionName = at === -1 ? rest : rest.slice(0, at)
      const variantName = at === -1 ? undefined : rest.slice(at + VARIANT_INFIX.length)
      const fn = this.config.tensorzero.functions.get(functionName)
      if (fn === undefined) throw new GatewayError(404, `Unknown function: ${functionName}`)
      if (variantName !== undefined && !fn.variants.has(variantName)) throw new GatewayError(404, `Unknown variant: ${variantName}`)
      return { kind: 'function', functionName, variantName }
    }
    if (model.startsWith(MODEL_PREFIX)) {
      const modelName = model.slice(MODEL_PREFIX.length)
      if (this.model(modelName) === undefined) throw new GatewayError(404, `Unknown model: ${modelName}`)
      return { kind: 'model', modelName }
    }
    if (model.startsWith(EMBEDDING_PREFIX)) {
      const modelName = model.slice(EMBEDDING_PREFIX.length)
      if (this.embeddingModel(modelName) === undefined) throw new GatewayError(404, `Unknown embedding model: ${modelName}`)
      return { kind: 'embedding_model', modelName }
    }
    throw new GatewayError(400, `Invalid model name \`${model}\`: a \`tensorzero::\` model must start with \`${FUNCTION_PREFIX}\`, \`${MODEL_PREFIX}\` or \`${EMBEDDING_PREFIX}\``)
  }

  private knownNames (): string[] {
    const { sidecar, tensorzero } = this.config
    return [...sidecar.exactRoutes.keys(), ...tensorzero.functions.keys(), ...tensorzero.models.keys(), ...tensorzero.embeddingModels.keys()]
  }
}
