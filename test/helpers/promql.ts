// PromQL as the deployment files use it: which metric names an expression reads, which labels it filters or groups
// by, and which names and labels a /metrics exposition really carries.

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan'])

/** Metric names a PromQL expression reads: identifiers that are not functions, keywords, label names or durations. */
export function metricNames (expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  const names = new Set<string>()
  for (const m of stripped.matchAll(/(?<![\w:.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (m[2] !== undefined || PROMQL_KEYWORDS.has(m[1].toLowerCase())) continue
    names.add(m[1])
  }
  return [...names].sort()
}

/** Series names a /metrics exposition can carry: sample lines plus every declared family (histograms expanded). */
export function exportedNames (text: string): Set<string> {
  const names = new Set<string>()
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\w+)/.exec(line)
    if (type !== null) {
      names.add(type[1])
      if (type[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(type[1] + s)
      if (type[2] === 'summary') for (const s of ['_sum', '_count']) names.add(type[1] + s)
      continue
    }
    const sample = /^([a-zA-Z_:][\w:]*)[{ ]/.exec(line)
    if (sample !== null) names.add(sample[1])
  }
  return names
}


/**
 * Label names an expression needs, per metric it reads: those its selectors match on (`name{label=~"…"}`) plus those it
 * groups or joins by (`by (…)`, `on (…)`), which every metric of the expression must carry.
 */
export function labelsUsed (expr: string): Map<string, Set<string>> {
  const used = new Map<string, Set<string>>(metricNames(expr).map(name => [name, new Set<string>()]))
  const grouping = new Set<string>()
  for (const m of expr.matchAll(/\b(?:by|on)\s*\(([^)]*)\)/g)) for (const l of m[1].split(',')) if (l.trim() !== '') grouping.add(l.trim())
  for (const m of expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').matchAll(/([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}/g)) {
    for (const l of m[2].matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)) used.get(m[1])?.add(l[1])
  }
  for (const labels of used.values()) for (const l of grouping) labels.add(l)
  return used
}

/** For each series name with samples in an exposition, the label names its samples carry. */
export function sampleLabels (text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(line)
    if (m === null) continue
    const labels = out.get(m[1]) ?? new Set<string>()
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="(?:[^"\\]|\\.)*"/g)) labels.add(l[1])
    out.set(m[1], labels)
  }
  return out
}
