// Variant selection as TensorZero samples: weighted draws without replacement among the candidates, then the
// fallbacks in order, from one uniform draw per (function, episode) reused for every re-sample, so the same episode
// always walks the same variant order.
import { createHash } from 'node:crypto'
import type { Experimentation, FunctionConfig } from '../core/config.ts'
import type { AdaptiveExperiments } from './experimentation/adaptive.ts'

/** u in [0, 1): first 4 bytes, big-endian, of SHA-256(function name ‖ episode id's 16 bytes), over 2^32. */
export function episodeDraw (functionName: string, episodeId: string): number {
  const hash = createHash('sha256')
  hash.update(functionName, 'utf8')
  hash.update(Buffer.from(episodeId.replaceAll('-', ''), 'hex'))
  return hash.digest().readUInt32BE(0) / 2 ** 32
}

/** Weighted candidates (sorted-name order) and an ordered fallback list: all three TensorZero modes reduce to this. */
export interface SamplingPlan {
  candidates: Array<{ name: string; weight: number }>
  fallbacks: string[]
}

export function samplingPlan (fn: FunctionConfig, exp: Experimentation = fn.experimentation): SamplingPlan {
  if (exp.type === 'static') {
    const candidates = fn.sortedVariantNames
      .filter(name => exp.candidates.has(name))
      .map(name => ({ name, weight: exp.candidates.get(name) ?? 0 }))
    return { candidates, fallbacks: exp.fallbacks }
  }
  if (exp.type === 'track_and_stop') {
    // Without the gateway's adaptive state (a bare context): every candidate alike, then the fallbacks.
    return { candidates: fn.sortedVariantNames.filter(name => exp.candidates.includes(name)).map(name => ({ name, weight: 1 })), fallbacks: exp.fallbacks }
  }
  if (exp.type === 'legacy_weights') {
    const candidates: SamplingPlan['candidates'] = []
    const fallbacks: string[] = []
    for (const name of fn.sortedVariantNames) {
      const weight = fn.variants.get(name)?.weight
      if (weight === undefined) fallbacks.push(name)
      else if (weight > 0) candidates.push({ name, weight })
    }
    return { candidates, fallbacks }
  }
  return { candidates: fn.sortedVariantNames.map(name => ({ name, weight: 1 })), fallbacks: [] }
}

// Keyed by the experiment object: each belongs to one function, and config objects do not change while loaded.
const plans = new WeakMap<Experimentation, SamplingPlan>()

function cachedSamplingPlan (fn: FunctionConfig, exp: Experimentation): SamplingPlan {
  let plan = plans.get(exp)
  if (plan === undefined) { plan = samplingPlan(fn, exp); plans.set(exp, plan) }
  return plan
}

/** The experiment a request samples: its namespace's, else the base one (an unknown namespace is no error). */
function experimentFor (fn: FunctionConfig, namespace: string | undefined): Experimentation {
  return (namespace === undefined ? undefined : fn.namespaceExperimentation?.get(namespace)) ?? fn.experimentation
}

/** The episode's draw, or 0 when fewer than two candidates have weight (the draw cannot change the order): skips the SHA-256. */
function drawFor (plan: SamplingPlan, functionName: string, episodeId: string): number {
  let weighted = 0
  for (const c of plan.candidates) if (c.weight > 0 && ++weighted > 1) return episodeDraw(functionName, episodeId)
  return 0
}

/** The episode's variant order under the request's experiment: an adaptive one's (which may ask Postgres) when it is adaptive, else the static plan's. */
export function sampledOrder (adaptive: AdaptiveExperiments | undefined, fn: FunctionConfig, episodeId: string, namespace?: string): Iterable<string> | AsyncIterable<string> {
  const exp = experimentFor(fn, namespace)
  if (exp.type === 'track_and_stop' && adaptive !== undefined) {
    return adaptive.order(fn, exp === fn.experimentation ? undefined : namespace, episodeId, episodeDraw(fn.name, episodeId))
  }
  const plan = cachedSamplingPlan(fn, exp)
  return variantOrder(plan, drawFor(plan, fn.name, episodeId))
}

/**
 * Yields variant names in the order they are tried: weighted draws without replacement among candidates,
 * then the fallback list in order. Each name appears at most once.
 */
export function * variantOrder (plan: SamplingPlan, u: number): Generator<string> {
  const remaining = plan.candidates.filter(c => c.weight > 0)
  const tried = new Set<string>()
  while (remaining.length > 0) {
    let total = 0
    for (const c of remaining) total += c.weight
    const target = u * total
    let cumulative = 0
    let index = remaining.length - 1
    for (let i = 0; i < remaining.length; i++) {
      cumulative += remaining[i].weight
      if (cumulative > target) { index = i; break }
    }
    const [chosen] = remaining.splice(index, 1)
    tried.add(chosen.name)
    yield chosen.name
  }
  for (const name of plan.fallbacks) {
    if (tried.has(name)) continue
    tried.add(name)
    yield name
  }
}
