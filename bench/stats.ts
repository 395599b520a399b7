// Small statistics helpers: percentiles of samples, medians of runs.

/** The p-th percentile (0–100) of samples, nearest-rank on a sorted copy. NaN when empty. */
export function percentile (samples: ArrayLike<number>, p: number): number {
  const n = samples.length
  if (n === 0) return NaN
  const sorted = Float64Array.from(samples).sort()
  const rank = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))
  return sorted[rank]
}

export function median (values: number[]): number {
  const v = values.filter(x => Number.isFinite(x))
  if (v.length === 0) return NaN
  return percentile(v, 50)
}

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

export function fmtMs (ms: number, digits = 3): string {
  return Number.isFinite(ms) ? `${ms.toFixed(digits)} ms` : 'n/a'
}

export function fmtMB (bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : 'n/a'
}

export function fmtInt (n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a'
}

export function fmtPct (ratio: number): string {
  return Number.isFinite(ratio) ? `${(ratio * 100).toFixed(0)} %` : 'n/a'
}
