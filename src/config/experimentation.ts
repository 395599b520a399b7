// `[functions.F.experimentation]` and its `namespaces.N` tables: static weights, uniform, and adaptive
// (track-and-stop) experiments, with TensorZero's keys, defaults and checks.
import type { Experimentation, MetricConfig, TrackAndStopSettings, VariantConfig } from '../core/config.ts'
import type { LoadContext, TableReader } from './reader.ts'
import { isTable } from './toml-files.ts'

const EXPERIMENTATION_TYPES = ['static', 'static_weights', 'uniform', 'adaptive', 'track_and_stop']
const TRACK_AND_STOP_KEYS = [
  'type', 'metric', 'candidate_variants', 'fallback_variants', 'min_samples_per_variant', 'delta', 'epsilon',
  'update_period_s', 'min_prob', 'max_samples_per_variant',
]

/** The legacy types TensorZero still loads, with the type its deprecation warning names instead. */
const DEPRECATED_TYPES: Record<string, string> = { uniform: 'static', static_weights: 'static', track_and_stop: 'adaptive' }

/** The base experiment, and the experiments of `experimentation.namespaces` (absent when there are none). */
export interface FunctionExperiments { experimentation: Experimentation; namespaceExperimentation?: Map<string, Experimentation> }

export function readExperimentation (
  fn: TableReader, functionName: string, variants: Map<string, VariantConfig>, ctx: LoadContext, metrics: Map<string, MetricConfig>,
): FunctionExperiments {
  const weighted = [...variants.values()].filter((v) => v.weight !== undefined)
  const r = fn.sub('experimentation')
  if (!r) return { experimentation: weighted.length > 0 ? { type: 'legacy_weights' } : { type: 'uniform' } }

  for (const v of weighted) {
    ctx.diags.error(ctx.toml.at([...fn.path, 'variants', v.name, 'weight']),
      `variant \`${v.name}\` of function \`${functionName}\` sets \`weight\`, but the function has an [experimentation] section;` +
      ' give weights in `candidate_variants` instead')
  }
  const experimentation = readExperiment(r, functionName, variants, ctx, metrics, true)
  // Each namespace's table is a whole experiment of its own (no `namespaces` of its own), as TensorZero reads it.
  const entries = r.sub('namespaces')?.entries() ?? []
  if (entries.length === 0) return { experimentation }
  const namespaceExperimentation = new Map(entries.map(([namespace, table]) =>
    [namespace, readExperiment(table, functionName, variants, ctx, metrics, false)] as const))
  return { experimentation, namespaceExperimentation }
}

/** One experiment table: the base one (which may hold `namespaces`) or a namespace's. */
function readExperiment (
  r: TableReader, functionName: string, variants: Map<string, VariantConfig>, ctx: LoadContext, metrics: Map<string, MetricConfig>,
  base: boolean,
): Experimentation {
  const namespacesKey = base ? (key: string): 'ok' | undefined => key === 'namespaces' ? 'ok' : undefined : undefined
  const type = r.string('type', true)
  if (type === undefined) return { type: 'uniform' }
  if (!EXPERIMENTATION_TYPES.includes(type)) {
    r.error('type', `unknown experimentation type "${type}" for function \`${functionName}\`; known types: ${EXPERIMENTATION_TYPES.join(', ')}`)
    return { type: 'uniform' }
  }
  const checkName = (variant: string, at: readonly string[]): boolean => {
    if (variants.has(variant)) return true
    ctx.diags.error(ctx.toml.at(at), `experimentation of function \`${functionName}\` names variant \`${variant}\`, which does not exist` +
      ` (variants: ${[...variants.keys()].join(', ') || 'none'})`)
    return false
  }
  const names = (key: string): string[] => {
    const out: string[] = []
    ;(r.stringArray(key) ?? []).forEach((variant, i) => {
      if (out.includes(variant)) r.error(key, `\`${r.name(key)}\` lists \`${variant}\` twice`)
      else if (checkName(variant, [...r.path, key, String(i)])) out.push(variant)
    })
    return out
  }
  const replacement = DEPRECATED_TYPES[type]
  if (replacement !== undefined) r.warning('type', `Experimentation type \`${type}\` is deprecated. Use \`${replacement}\` instead.`)
  if (type === 'adaptive' || type === 'track_and_stop') return readTrackAndStop(r, type, functionName, metrics, names, namespacesKey)

  r.checkKeys(['type', 'candidate_variants', 'fallback_variants'], namespacesKey)
  const candidates = new Map<string, number>()
  const raw = r.get('candidate_variants')
  // TensorZero's `static` and `static_weights` structs give `candidate_variants` no default.
  if (type !== 'uniform' && raw === undefined) r.missing('candidate_variants')
  // `static` takes a list (equal weights) or a weight table; the legacy `static_weights` only a weight table.
  if (type === 'static_weights' && raw !== undefined && !isTable(raw)) {
    r.error('candidate_variants', `\`${r.name('candidate_variants')}\` of \`static_weights\` experimentation must be a table of variant weights`)
  }
  // Uniform does not take weights: a list only.
  if (isTable(raw) && type !== 'uniform') {
    const t = r.sub('candidate_variants')!
    for (const variant of Object.keys(raw)) {
      const w = t.number(variant, { min: 0 })
      if (checkName(variant, t.keyPath(variant)) && w !== undefined) candidates.set(variant, w)
    }
  } else if (raw !== undefined) {
    for (const variant of names('candidate_variants')) candidates.set(variant, 1)
  }
  const fallbacks = names('fallback_variants')

  if (type === 'uniform' && raw === undefined && fallbacks.length === 0) return { type: 'uniform' }
  if (type === 'uniform' && raw === undefined) {
    // Uniform over every variant that is not a fallback.
    for (const v of variants.keys()) if (!fallbacks.includes(v)) candidates.set(v, 1)
  }
  if (candidates.size === 0 && fallbacks.length === 0 && raw === undefined) {
    r.error(undefined, `experimentation of function \`${functionName}\` names no variants; set \`candidate_variants\` and/or \`fallback_variants\``)
  }
  return { type: 'static', candidates, fallbacks }
}

/** TensorZero's track-and-stop keys and defaults (min 10 samples, delta 0.05, epsilon 0, every 300 s, at most 10 000 samples). */
function readTrackAndStop (
  r: TableReader, type: string, functionName: string, metrics: Map<string, MetricConfig>, names: (key: string) => string[],
  namespacesKey: ((key: string) => 'ok' | undefined) | undefined,
): Experimentation {
  r.checkKeys(type === 'adaptive' ? [...TRACK_AND_STOP_KEYS, 'algorithm'] : TRACK_AND_STOP_KEYS, namespacesKey)
  if (type === 'adaptive') r.oneOf('algorithm', ['track_and_stop'] as const)
  const metric = r.string('metric', true) ?? ''
  const metricConfig = metrics.get(metric)
  if (metric !== '' && metricConfig === undefined) {
    r.error('metric', `experimentation of function \`${functionName}\` references unknown metric \`${metric}\`` +
      ` (metrics: ${[...metrics.keys()].join(', ') || 'none'})`)
  }
  if (!r.has('candidate_variants')) r.missing('candidate_variants')
  const candidates = names('candidate_variants')
  const listed = r.get('candidate_variants')
  if (Array.isArray(listed) && listed.length === 0) {
    r.error('candidate_variants', `\`${r.name('candidate_variants')}\` cannot be empty for ${type} experimentation`)
  }
  const fallbacks = names('fallback_variants')
  for (const v of fallbacks) {
    if (candidates.includes(v)) r.error('fallback_variants', `variant \`${v}\` is both a candidate and a fallback variant`)
  }
  const settings: TrackAndStopSettings = {
    type: 'track_and_stop',
    metric,
    optimize: metricConfig?.optimize ?? 'max',
    candidates,
    fallbacks,
    minSamplesPerVariant: r.number('min_samples_per_variant', { integer: true, min: 1 }) ?? 10,
    delta: r.number('delta') ?? 0.05,
    epsilon: r.number('epsilon', { min: 0 }) ?? 0,
    updatePeriodMs: (r.number('update_period_s', { integer: true, min: 1 }) ?? 300) * 1000,
    minProb: r.number('min_prob', { min: 0 }) ?? 0,
    maxSamplesPerVariant: r.number('max_samples_per_variant', { integer: true, min: 0 }) ?? 10_000,
  }
  if (!(settings.delta > 0 && settings.delta < 1)) r.error('delta', `\`${r.name('delta')}\` must be in (0, 1), got ${settings.delta}`)
  if (settings.minProb * candidates.length > 1 + 1e-9) {
    r.error('min_prob', `\`${r.name('min_prob')}\` is too large: min_prob (${settings.minProb}) × ${candidates.length} candidate variants > 1`)
  }
  if (settings.maxSamplesPerVariant < settings.minSamplesPerVariant) {
    r.error('max_samples_per_variant', `\`${r.name('max_samples_per_variant')}\` (${settings.maxSamplesPerVariant}) must be >= \`min_samples_per_variant\` (${settings.minSamplesPerVariant})`)
  }
  return settings
}
