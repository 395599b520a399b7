// The figures table: one row per figure, with its target and PASS/MISS (or INFO / PENDING).
export type Verdict = 'PASS' | 'MISS' | 'INFO' | 'PENDING'

export interface Row { figure: string; value: string; reference: string; target: string; verdict: Verdict }

export function verdict (ok: boolean | undefined): Verdict {
  if (ok === undefined) return 'PENDING'
  return ok ? 'PASS' : 'MISS'
}

/** A markdown table (also readable in a terminal), ready to paste into the README. */
export function markdownTable (rows: Row[]): string {
  const head = ['figure', 'sidecar', 'direct / reference', 'target', 'result']
  const cells = rows.map(r => [r.figure, r.value, r.reference, r.target, r.verdict])
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map(c => c[i].length)))
  const line = (c: string[]): string => '| ' + c.map((x, i) => x.padEnd(widths[i])).join(' | ') + ' |'
  return [line(head), '|' + widths.map(w => '-'.repeat(w + 2)).join('|') + '|', ...cells.map(line)].join('\n')
}
