// The sampling probabilities track-and-stop aims for, as TensorZero computes them: the allocation w on the simplex
// (each w_i >= min_prob) that minimises the characteristic time of ε-best-arm identification for Gaussian rewards
// (Garivier & Kaufmann 2016),
//   max over challengers i of 2 (σ_i²/w_i + σ_L²/w_L) / max((μ_L − μ_i + ε)², 1e-6)   + α ‖w − 1/K‖²,  α = reg0/√N,
// where L is the empirical leader. TensorZero hands the same program to a second-order cone solver; here it is solved
// with a log-barrier interior-point method (Newton steps on the equality-constrained barrier problem).
import { chooseLeader } from './stopping.ts'
import type { ArmStatistics } from './stopping.ts'

export interface OptimalProbabilitiesOptions {
  epsilon?: number
  /** Variances are raised to at least this (default 1e-12). */
  varianceFloor?: number
  /** Lower bound per arm (default 0, raised to 1e-6 for numerical stability, as TensorZero does). */
  minProb?: number
  /** Pull toward uniform, scaled by 1/√(total pulls) (default 0.01). */
  reg0?: number
  optimize: 'max' | 'min'
}

export function estimateOptimalProbabilities (arms: ArmStatistics[], opts: OptimalProbabilitiesOptions): Map<string, number> {
  const epsilon = opts.epsilon ?? 0
  const floor = opts.varianceFloor ?? 1e-12
  const minProb = Math.max(opts.minProb ?? 0, 1e-6)
  const reg0 = opts.reg0 ?? 0.01
  const k = arms.length
  if (k < 2) throw new Error(`need at least two arms, got ${k}`)
  const means = arms.map(a => opts.optimize === 'min' ? -a.mean : a.mean)
  const variances = arms.map(a => Math.max(a.variance, floor))
  const total = arms.reduce((s, a) => s + a.count, 0)
  const alpha = reg0 / Math.sqrt(total)
  const leader = chooseLeader(means, variances, arms.map(a => a.count))
  const gaps = means.map(m => means[leader] - m + epsilon)
  const gaps2 = gaps.map(g => Math.max(g * g, 1e-6))
  const uniform = (): Map<string, number> => new Map(arms.map(a => [a.name, 1 / k]))
  const varianceRange = Math.max(...variances) - Math.min(...variances)
  if (gaps.every(g => Math.abs(g) < 1e-10) && varianceRange < 1e-10) return uniform()
  if (1 / k - minProb < 1e-12) return uniform()
  const w = solve({ k, leader, variances, gaps2, alpha, minProb })
  return w === undefined ? uniform() : new Map(arms.map((a, i) => [a.name, w[i]]))
}

interface Program { k: number; leader: number; variances: number[]; gaps2: number[]; alpha: number; minProb: number }

/** Challenger i's constraint value c_i(w) = 2 (σ_i²/w_i + σ_L²/w_L) / gap_i². */
function challengerTime (p: Program, w: number[], i: number): number {
  return 2 * (p.variances[i] / w[i] + p.variances[p.leader] / w[p.leader]) / p.gaps2[i]
}

/**
 * Variables x = (w_1..w_K, t): minimise t + α‖w − u‖² subject to Σw = 1, w_i > minProb, t > c_i(w) for every
 * challenger. Barrier weight τ grows tenfold until the duality gap bound (constraints / τ) is negligible next to the
 * objective. Returns undefined when Newton's method does not converge (the caller falls back to uniform, as
 * TensorZero does when its solver fails).
 */
function solve (p: Program): number[] | undefined {
  const n = p.k + 1
  const x = new Array<number>(n).fill(1 / p.k)
  x[p.k] = 0
  for (let i = 0; i < p.k; i++) if (i !== p.leader) x[p.k] = Math.max(x[p.k], challengerTime(p, x, i))
  x[p.k] = 2 * x[p.k] + 1
  const constraints = 2 * p.k - 1
  // τ starts where the objective and the barrier weigh alike (t can be in the thousands), so the first centring is short.
  for (let tau = constraints / x[p.k], outer = 0; outer < 60; outer++, tau *= 10) {
    if (!newton(p, x, tau)) return undefined
    if (constraints / tau < 1e-10 * Math.max(1, Math.abs(x[p.k]))) return x.slice(0, p.k)
  }
  return x.slice(0, p.k)
}

/** The barrier objective τ·f0 − Σ log(slacks); Infinity outside the domain. */
function barrier (p: Program, x: number[], tau: number): number {
  const t = x[p.k]
  let value = t
  for (let i = 0; i < p.k; i++) value += p.alpha * (x[i] - 1 / p.k) ** 2
  value *= tau
  for (let i = 0; i < p.k; i++) {
    const slack = x[i] - p.minProb
    if (!(slack > 0)) return Infinity
    value -= Math.log(slack)
  }
  for (let i = 0; i < p.k; i++) {
    if (i === p.leader) continue
    const slack = t - challengerTime(p, x, i)
    if (!(slack > 0)) return Infinity
    value -= Math.log(slack)
  }
  return value
}

/** Newton's method with backtracking on the barrier problem at weight τ, keeping Σw = 1. Updates x in place; false when the system is singular. */
function newton (p: Program, x: number[], tau: number): boolean {
  const n = p.k + 1
  for (let iter = 0; iter < 200; iter++) {
    const { grad, hess } = derivatives(p, x, tau)
    // KKT system [H a; aᵀ 0] [dx; ν] = [−g; 0] with a = (1..1, 0): the step keeps Σw fixed.
    const m = n + 1
    const kkt = Array.from({ length: m }, (_, r) => {
      const row = new Array<number>(m + 1).fill(0)
      if (r < n) {
        for (let c = 0; c < n; c++) row[c] = hess[r][c]
        row[n] = r < p.k ? 1 : 0
        row[m] = -grad[r]
      } else {
        for (let c = 0; c < p.k; c++) row[c] = 1
      }
      return row
    })
    const step = solveLinear(kkt)
    if (step === undefined) return false
    const dx = step.slice(0, n)
    let decrement = 0
    for (let i = 0; i < n; i++) decrement -= grad[i] * dx[i]
    const f0 = barrier(p, x, tau)
    // Centred enough: the barrier value is within rounding of its minimum (relative, as τ·t grows large).
    if (decrement / 2 < 1e-12 * Math.max(1, Math.abs(f0))) return true
    let s = 1
    const trial = new Array<number>(n)
    for (;;) {
      for (let i = 0; i < n; i++) trial[i] = x[i] + s * dx[i]
      const f1 = barrier(p, trial, tau)
      if (f1 <= f0 - 0.25 * s * decrement) break
      s *= 0.5
      if (s < 1e-20) return true
    }
    for (let i = 0; i < n; i++) x[i] = trial[i]
  }
  // Still feasible and no worse: rounding keeps the decrement from vanishing; the next τ continues from here.
  return true
}

function derivatives (p: Program, x: number[], tau: number): { grad: number[]; hess: number[][] } {
  const n = p.k + 1
  const t = x[p.k]
  const grad = new Array<number>(n).fill(0)
  const hess = Array.from({ length: n }, () => new Array<number>(n).fill(0))
  grad[p.k] = tau
  for (let i = 0; i < p.k; i++) {
    grad[i] += 2 * tau * p.alpha * (x[i] - 1 / p.k)
    hess[i][i] += 2 * tau * p.alpha
    const slack = x[i] - p.minProb
    grad[i] -= 1 / slack
    hess[i][i] += 1 / (slack * slack)
  }
  const L = p.leader
  for (let i = 0; i < p.k; i++) {
    if (i === L) continue
    const slack = t - challengerTime(p, x, i)
    // ∇(t − c_i): 1 for t, 2σ²/(gap² w²) for w_i and w_L.
    const gi = 2 * p.variances[i] / (p.gaps2[i] * x[i] * x[i])
    const gl = 2 * p.variances[L] / (p.gaps2[i] * x[L] * x[L])
    const entries: Array<[number, number]> = [[p.k, 1], [i, gi], [L, gl]]
    for (const [a, va] of entries) {
      grad[a] -= va / slack
      for (const [b, vb] of entries) hess[a][b] += va * vb / (slack * slack)
    }
    hess[i][i] += 4 * p.variances[i] / (p.gaps2[i] * x[i] ** 3) / slack
    hess[L][L] += 4 * p.variances[L] / (p.gaps2[i] * x[L] ** 3) / slack
  }
  return { grad, hess }
}

/** Gaussian elimination with partial pivoting on an augmented matrix; undefined when singular. */
function solveLinear (a: number[][]): number[] | undefined {
  const m = a.length
  for (let col = 0; col < m; col++) {
    let pivot = col
    for (let r = col + 1; r < m; r++) if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) pivot = r
    if (!(Math.abs(a[pivot][col]) > 1e-300)) return undefined
    ;[a[col], a[pivot]] = [a[pivot], a[col]]
    for (let r = col + 1; r < m; r++) {
      const f = a[r][col] / a[col][col]
      if (f === 0) continue
      for (let c = col; c <= m; c++) a[r][c] -= f * a[col][c]
    }
  }
  const out = new Array<number>(m).fill(0)
  for (let r = m - 1; r >= 0; r--) {
    let v = a[r][m]
    for (let c = r + 1; c < m; c++) v -= a[r][c] * out[c]
    out[r] = v / a[r][r]
  }
  return out
}
