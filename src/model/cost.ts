// The price of one model call, as TensorZero computes it: each `cost` entry reads a number at its JSON pointer in the
// provider's raw answer and multiplies it by its rate. A required entry whose field is missing, a value that is not a
// number, or a negative total means no cost at all (the row's `cost` stays NULL), never a failed inference.
// Streams: each entry takes the largest value any chunk carries (usage may be cumulative or split across chunks).
import type { CostEntry } from '../core/config.ts'
import { valueAtPointer } from '../providers/http/extra.ts'

/** Whole dollars kept: ClickHouse's `cost` column is Decimal(18, 9). */
const DECIMALS = 1e9

export function costOfAnswer (rawResponse: string, entries: CostEntry[]): number | undefined {
  let json: unknown
  try { json = JSON.parse(rawResponse) } catch { return undefined }
  return total(entries, entry => numberAt(json, entry.pointerNonStreaming))
}

export function costOfStream (rawChunks: readonly string[], entries: CostEntry[]): number | undefined {
  const chunks: unknown[] = []
  for (const chunk of rawChunks) {
    try { chunks.push(JSON.parse(chunk)) } catch { /* a chunk that is not JSON carries no usage */ }
  }
  return total(entries, entry => {
    let max: number | undefined
    for (const chunk of chunks) {
      const value = numberAt(chunk, entry.pointerStreaming)
      if (Number.isNaN(value)) return NaN
      if (value !== undefined && (max === undefined || value > max)) max = value
    }
    return max
  })
}

/** undefined: the field is absent; NaN: present but not a number. */
function numberAt (root: unknown, pointer: string): number | undefined {
  const v = valueAtPointer(root, pointer)
  if (v === undefined) return undefined
  if (typeof v === 'number') return v
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v)
  return NaN
}

function total (entries: CostEntry[], valueOf: (entry: CostEntry) => number | undefined): number | undefined {
  let sum = 0
  for (const entry of entries) {
    const value = valueOf(entry)
    if (Number.isNaN(value)) return undefined
    if (value === undefined) {
      if (entry.required) return undefined
      continue
    }
    sum += value * entry.perUnit
  }
  if (sum < 0) return undefined
  return Math.round(sum * DECIMALS) / DECIMALS
}
