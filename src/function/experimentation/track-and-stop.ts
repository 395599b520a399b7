// Track-and-stop's state and its sampling, as TensorZero computes them from the feedback statistics:
// - candidates with fewer than `min_samples_per_variant` feedback rows sit in a nursery and get an equal share
//   (1/K each) of traffic;
// - candidates with enough data share the rest by the optimal probabilities, until a stopping test names a winner,
//   which then takes that rest alone;
// - a single candidate is the winner from the start.
import type { TrackAndStopSettings } from '../../core/config.ts'
import type { FeedbackByVariant } from '../../core/stored-data.ts'
import { estimateOptimalProbabilities } from './optimal-probabilities.ts'
import { checkStopping } from './stopping.ts'
import type { ArmStatistics } from './stopping.ts'

export type TrackAndStopState =
  | { kind: 'stopped'; winner: string }
  | { kind: 'nursery'; nursery: string[] }
  | { kind: 'bandits'; probabilities: Map<string, number> }
  | { kind: 'nursery_and_bandits'; nursery: string[]; probabilities: Map<string, number> }
  | { kind: 'nursery_and_stopped'; nursery: string[]; winner: string }

/** Before the first statistics arrive: every candidate and fallback in the nursery (TensorZero's start state). */
export function initialState (settings: TrackAndStopSettings): TrackAndStopState {
  return { kind: 'nursery', nursery: [...settings.candidates, ...settings.fallbacks] }
}

/** The state for these statistics; throws when they cannot be used (e.g. a variance is missing). */
export function computeState (settings: TrackAndStopSettings, feedback: FeedbackByVariant[]): TrackAndStopState {
  const { candidates, minSamplesPerVariant: minPulls } = settings
  if (candidates.length === 1) return { kind: 'stopped', winner: candidates[0] }
  const rows = new Map(feedback.filter(f => candidates.includes(f.variantName)).map(f => [f.variantName, f]))
  const count = (name: string): number => rows.get(name)?.count ?? 0
  const nursery = candidates.filter(name => count(name) < minPulls)
  const graduated = candidates.filter(name => count(name) >= minPulls)
  if (graduated.length < 2) {
    if (nursery.length === 0) throw new Error('no arms detected')
    return { kind: 'nursery', nursery: [...candidates] }
  }
  const arms: ArmStatistics[] = graduated.map(name => {
    const row = rows.get(name) as FeedbackByVariant
    if (row.variance === null) throw new Error(`missing variance for variant \`${name}\``)
    return { name, count: row.count, mean: row.mean, variance: row.variance }
  })
  const options = { epsilon: settings.epsilon, optimize: settings.optimize }
  const winner = checkStopping(arms, { ...options, minPulls, delta: settings.delta })
  if (winner !== undefined) return nursery.length === 0 ? { kind: 'stopped', winner } : { kind: 'nursery_and_stopped', nursery, winner }
  const probabilities = estimateOptimalProbabilities(arms, { ...options, minProb: settings.minProb })
  return nursery.length === 0 ? { kind: 'bandits', probabilities } : { kind: 'nursery_and_bandits', nursery, probabilities }
}

/**
 * The variant the state picks among `active` (sorted names) for the draw `u` in [0, 1), or undefined when it picks
 * none that is active. TensorZero walks the nursery round-robin; here the draw picks the nursery slot, so one
 * episode keeps its slot and episodes spread evenly over the nursery.
 */
export function sampleState (state: TrackAndStopState, active: readonly string[], u: number): string | undefined {
  switch (state.kind) {
    case 'stopped': return active.includes(state.winner) ? state.winner : undefined
    case 'nursery': return fromNursery(state.nursery, active, u)
    case 'bandits': return weighted(state.probabilities, active, u)
    case 'nursery_and_bandits': {
      const nurseryMass = state.nursery.length / (state.nursery.length + state.probabilities.size)
      const banditMass = 1 - nurseryMass
      if (banditMass <= Number.EPSILON || u < nurseryMass) return fromNursery(state.nursery, active, u / nurseryMass)
      return weighted(state.probabilities, active, (u - nurseryMass) / banditMass)
    }
    case 'nursery_and_stopped': {
      const nurseryMass = state.nursery.length / (state.nursery.length + 1)
      if (u < nurseryMass) return fromNursery(state.nursery, active, u / nurseryMass)
      return active.includes(state.winner) ? state.winner : undefined
    }
  }
}

/** The nursery slot `u` falls in, or the next active one after it. */
function fromNursery (nursery: string[], active: readonly string[], u: number): string | undefined {
  if (nursery.length === 0) return undefined
  const start = Math.min(Math.floor(u * nursery.length), nursery.length - 1)
  for (let i = 0; i < nursery.length; i++) {
    const name = nursery[(start + i) % nursery.length]
    if (active.includes(name)) return name
  }
  return undefined
}

/** The first active variant whose cumulative probability passes u × (total over active); none when that total is 0. */
function weighted (probabilities: Map<string, number>, active: readonly string[], u: number): string | undefined {
  let total = 0
  for (const name of active) total += probabilities.get(name) ?? 0
  if (total <= 0) return undefined
  const threshold = u * total
  let cumulative = 0
  for (const name of active) {
    cumulative += probabilities.get(name) ?? 0
    if (cumulative > threshold) return name
  }
  return undefined
}
