// "Did you mean" suggestions for a model name nobody configured.

function editDistance (a: string, b: string): number {
  const prev = new Array<number>(b.length + 1)
  for (let j = 0; j <= b.length; j++) prev[j] = j
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]
    prev[0] = i
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1))
      diag = up
    }
  }
  return prev[b.length]
}

/** Up to `count` known names closest to `name` (case-insensitive edit distance, ties by name). */
export function nearestNames (name: string, known: Iterable<string>, count = 3): string[] {
  const lower = name.toLowerCase()
  return [...new Set(known)]
    .map(candidate => ({ candidate, d: editDistance(lower, candidate.toLowerCase()) }))
    .sort((x, y) => x.d - y.d || x.candidate.localeCompare(y.candidate))
    .slice(0, count)
    .map(x => x.candidate)
}
