// Closed sets of label values, taken from the config once. A name a client sends (a `model` string, a shorthand it
// made up, a metric name) only becomes a label value when the config already names it; anything else is `unknown`,
// so no request can grow the number of series.
import { completionConfigs, type LoadedConfig, type RouteTarget } from '../../src/core/config.ts'
import { DEFAULT_FUNCTION_NAME } from '../../src/core/names.ts'
import { supportedTypes } from '../../src/providers/catalog.ts'
import { ROUTE_TEMPLATES } from '../router.ts'

/** A value outside the config's names. */
const UNKNOWN = 'unknown'
/** Nothing to name (the request failed before routing, or the route has no such thing). */
export const NONE = 'none'
/** Requests forwarded unchanged to `passthrough_upstream`. */
export const PASSTHROUGH = 'passthrough'

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'])

export class ClosedLabels {
  private readonly functions = new Set<string>([DEFAULT_FUNCTION_NAME])
  private readonly variants = new Set<string>()
  private readonly models = new Set<string>()
  private readonly providers = new Set<string>()
  private readonly metricNames = new Set<string>(['comment', 'demonstration'])

  constructor (config: LoadedConfig) { this.learn(config) }

  /**
   * Adds the names of `config` (a reloaded one) to the sets. Names are never removed: the series already exported
   * under them stay valid, and the sets stay as closed as the configs this process has served.
   */
  learn (config: LoadedConfig): void {
    const tz = config.tensorzero
    for (const [name, fn] of tz.functions) {
      this.functions.add(name)
      for (const [variantName, variant] of fn.variants) {
        this.variants.add(variantName)
        // The evaluator's or fuser's model too: its calls are labelled with the variant that owns it.
        for (const owner of completionConfigs(variant)) if (owner.model !== undefined) this.models.add(owner.model)
      }
    }
    for (const models of [tz.models, tz.embeddingModels]) {
      for (const [name, model] of models) {
        this.models.add(name)
        for (const provider of model.providers.keys()) this.providers.add(provider)
      }
    }
    const targets: RouteTarget[] = [...config.sidecar.exactRoutes.values(), ...config.sidecar.globRoutes.map(r => r.target)]
    for (const target of targets) {
      if (target.kind === 'function') this.functions.add(target.functionName)
      else this.models.add(target.modelName)
    }
    // `tensorzero::default` names its one variant after the model.
    for (const model of this.models) this.variants.add(model)
    // A shorthand model's one provider is named after its type: a closed set too.
    for (const type of supportedTypes()) this.providers.add(type)
    for (const name of tz.metrics.keys()) this.metricNames.add(name)
  }

  fn (name: string | undefined): string { return pick(this.functions, name) }
  variant (name: string | undefined): string { return pick(this.variants, name) }
  model (name: string | undefined): string { return pick(this.models, name) }
  provider (name: string | undefined): string { return pick(this.providers, name) }
  metric (name: string | undefined): string { return pick(this.metricNames, name) }
  route (template: string): string { return ROUTE_TEMPLATES.has(template) ? template : 'other' }
  method (method: string): string { return METHODS.has(method) ? method : 'other' }
}

function pick (set: Set<string>, name: string | undefined): string {
  if (name === undefined || name === '') return NONE
  return set.has(name) ? name : UNKNOWN
}

export function statusClass (status: number | undefined): string {
  if (status === undefined || status < 100 || status > 599) return UNKNOWN
  return `${Math.floor(status / 100)}xx`
}
