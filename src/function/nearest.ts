// "Did you mean" suggestions for a model name nobody configured, and the bounded echo of a name the client chose.

/** Names longer than this get no suggestions: the edit distance costs length × length, and no typo is that long. */
const MAX_SUGGESTED_NAME_LENGTH = 256
/** A name echoed in an error or log line is cut to this many characters (the body limit allows megabytes). */
const MAX_ECHOED_NAME_LENGTH = 200

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

/** Up to `count` known names closest to `name` (case-insensitive edit distance, ties by name); none for a long name. */
export function nearestNames (name: string, known: Iterable<string>, count = 3): string[] {
  if (name.length > MAX_SUGGESTED_NAME_LENGTH) return []
  const lower = name.toLowerCase()
  return [...new Set(known)]
    .filter(candidate => candidate.length <= MAX_SUGGESTED_NAME_LENGTH)
    .map(candidate => ({ candidate, d: editDistance(lower, candidate.toLowerCase()) }))
    .sort((x, y) => x.d - y.d || x.candidate.localeCompare(y.candidate))
    .slice(0, count)
    .map(x => x.candidate)
}

/** A client-chosen name as an error message may quote it: whole when short, else its start and its length. */
export function echoedName (name: string): string {
  if (name.length <= MAX_ECHOED_NAME_LENGTH) return name
  return `${name.slice(0, MAX_ECHOED_NAME_LENGTH)}… (${name.length} characters)`
}
