// `[metrics.*]`, plus the two built-in metrics every TensorZero deployment has.
import type { LoadContext, TableReader } from './reader.ts'
import type { MetricConfig } from '../core/config.ts'
import { RESERVED_PREFIX } from '../core/names.ts'

/** Built in: `comment` takes its level from the id given with the feedback; `demonstration` is per inference. */
const RESERVED_METRICS = ['comment', 'demonstration'] as const

const BUILTIN_SOURCE = { file: '(built-in)', line: 0, col: 0 }

export function readMetrics (section: TableReader | undefined, _ctx: LoadContext): Map<string, MetricConfig> {
  const metrics = new Map<string, MetricConfig>()
  for (const [name, r] of section?.entries() ?? []) {
    if ((RESERVED_METRICS as readonly string[]).includes(name)) {
      r.error(undefined, `metric name \`${name}\` is reserved (TensorZero defines it); choose another name`)
      continue
    }
    if (name.startsWith(RESERVED_PREFIX)) {
      r.error(undefined, `metric name \`${name}\` uses the reserved prefix \`${RESERVED_PREFIX}\``)
      continue
    }
    r.checkKeys(['type', 'optimize', 'level'], (key) => key === 'description' ? 'ok' : undefined)
    const type = r.oneOf('type', ['boolean', 'float'] as const, true)
    const optimize = r.oneOf('optimize', ['max', 'min'] as const, true)
    const level = r.oneOf('level', ['inference', 'episode'] as const, true)
    if (type && optimize && level) metrics.set(name, { name, type, optimize, level, source: r.at() })
  }
  metrics.set('comment', { name: 'comment', type: 'comment', optimize: 'max', level: 'inference', source: BUILTIN_SOURCE })
  metrics.set('demonstration', { name: 'demonstration', type: 'demonstration', optimize: 'max', level: 'inference', source: BUILTIN_SOURCE })
  return metrics
}
