// When a track-and-stop experiment has its winner, as TensorZero decides it: the empirical leader (ties broken by
// the smallest variance per pull, then the lowest index) beats every challenger in a pairwise generalised
// likelihood ratio test, with the threshold ln((1 + ln N) / δ) for N pulls in all.

/** One arm's feedback: how many values, their mean and sample variance. */
export interface ArmStatistics { name: string; count: number; mean: number; variance: number }

const TIE_TOLERANCE = 1e-10

/** Index of the arm with the highest mean; ties by smallest variance/pulls, then by index. */
export function chooseLeader (means: number[], variances: number[], pulls: number[]): number {
  const best = Math.max(...means)
  let leader = -1
  for (let i = 0; i < means.length; i++) {
    if (Math.abs(means[i] - best) >= TIE_TOLERANCE) continue
    if (leader === -1 || variances[i] / Math.max(pulls[i], 1) < variances[leader] / Math.max(pulls[leader], 1)) leader = i
  }
  if (leader === -1) throw new Error('could not choose a leader arm')
  return leader
}

/** (μ_L − μ_C + ε)² / (2 (σ_L²/n_L + σ_C²/n_C)), or 0 without evidence. */
function pairwiseGlr (leader: { n: number; mean: number; variance: number }, challenger: { n: number; mean: number; variance: number }, epsilon: number): number {
  if (leader.mean < challenger.mean) throw new Error('the leader has a lower mean than a challenger')
  if (leader.n === 0 || challenger.n === 0) return 0
  const gap = leader.mean - challenger.mean + epsilon
  if (gap <= 0) return 0
  const pooled = leader.variance / Math.max(leader.n, 1) + challenger.variance / Math.max(challenger.n, 1)
  if (pooled <= 0) return 0
  return Math.max(gap * gap / (2 * pooled), 0)
}

export interface StoppingOptions { minPulls: number; delta?: number; epsilon?: number; varianceFloor?: number; optimize: 'max' | 'min' }

/** The winner's name, or undefined while the evidence is not enough (or some arm has fewer than `minPulls`). */
export function checkStopping (arms: ArmStatistics[], opts: StoppingOptions): string | undefined {
  const floor = opts.varianceFloor ?? 1e-12
  const epsilon = opts.epsilon ?? 0
  const delta = opts.delta ?? 0.05
  if (arms.some(a => a.count < opts.minPulls)) return undefined
  const means = arms.map(a => opts.optimize === 'min' ? -a.mean : a.mean)
  const variances = arms.map(a => Math.max(a.variance, floor))
  const pulls = arms.map(a => a.count)
  const leader = chooseLeader(means, variances, pulls)
  const arm = (i: number): { n: number; mean: number; variance: number } => ({ n: pulls[i], mean: means[i], variance: variances[i] })
  let smallest = Infinity
  for (let i = 0; i < arms.length; i++) if (i !== leader) smallest = Math.min(smallest, pairwiseGlr(arm(leader), arm(i), epsilon))
  if (smallest === Infinity) throw new Error('no challenger to test the leader against')
  const total = pulls.reduce((s, n) => s + n, 0)
  const threshold = Math.log((1 + Math.log(total)) / delta)
  return smallest > threshold ? arms[leader].name : undefined
}
