// Field shapes that recur at several levels of tensorzero.toml: timeouts, retries, extra_body/extra_headers,
// api_key_location, a variant's sampling keys.
import { describeType, TableReader } from './reader.ts'
import { isTable } from './toml-files.ts'
import type { CostEntry, ExtraBodyEntry, ExtraHeaderEntry, SingleKeyLocation, RetryConfig, TimeoutsConfig } from '../core/config.ts'
import type { InferenceParams } from '../core/types.ts'

/** `timeouts = { non_streaming = { total_ms }, streaming = { ttft_ms, total_ms } }`, all positive integers. */
export function readTimeouts (parent: TableReader): TimeoutsConfig {
  const out: TimeoutsConfig = {}
  const t = parent.sub('timeouts')
  if (!t) return out
  t.checkKeys(['non_streaming', 'streaming'])
  const ns = t.sub('non_streaming')
  if (ns) {
    ns.checkKeys(['total_ms'])
    out.nonStreamingTotalMs = ns.number('total_ms', { integer: true, positive: true })
  }
  const s = t.sub('streaming')
  if (s) {
    s.checkKeys(['ttft_ms', 'total_ms'])
    out.streamingTtftMs = s.number('ttft_ms', { integer: true, positive: true })
    out.streamingTotalMs = s.number('total_ms', { integer: true, positive: true })
  }
  for (const k of Object.keys(out) as Array<keyof TimeoutsConfig>) if (out[k] === undefined) delete out[k]
  return out
}

/** `retries = { num_retries = 0, max_delay_s = 10 }` with TensorZero's defaults. */
export function readRetries (parent: TableReader): RetryConfig {
  const out: RetryConfig = { numRetries: 0, maxDelayS: 10 }
  const r = parent.sub('retries')
  if (!r) return out
  r.checkKeys(['num_retries', 'max_delay_s'])
  out.numRetries = r.number('num_retries', { integer: true, min: 0 }) ?? 0
  out.maxDelayS = r.number('max_delay_s', { min: 0 }) ?? 10
  return out
}

/** `extra_body = [{ pointer = "/a/b", value = … } | { pointer, delete = true }]`. */
export function readExtraBody (parent: TableReader): ExtraBodyEntry[] | undefined {
  return readEntries(parent, 'extra_body', ['pointer', 'value', 'delete'], item => {
    const pointer = item.string('pointer', true)
    if (pointer !== undefined && pointer !== '' && !pointer.startsWith('/')) {
      item.error('pointer', `\`${item.name('pointer')}\` must be a JSON Pointer starting with "/", got "${pointer}"`)
      return undefined
    }
    const del = item.boolean('delete')
    if (item.has('value') === (del === true)) return needsValueOrDelete(item)
    if (pointer === undefined) return undefined
    return del === true ? { pointer, delete: true } : { pointer, value: item.get('value') }
  })
}

/**
 * `cost = [{ pointer = "/usage/prompt_tokens", cost_per_million = 0.15, required = true }, …]`; chat providers may split
 * the pointer (`pointer_nonstreaming` + `pointer_streaming`), embedding providers (`unified`) may not.
 */
export function readCost (parent: TableReader, unified: boolean): CostEntry[] | undefined {
  const pointerKeys = unified ? ['pointer'] : ['pointer', 'pointer_nonstreaming', 'pointer_streaming']
  return readEntries(parent, 'cost', [...pointerKeys, 'cost_per_million', 'cost_per_unit', 'required'], item => {
    const pointers = readCostPointers(item, unified)
    const perMillion = item.number('cost_per_million')
    const perUnit = item.number('cost_per_unit')
    const required = item.boolean('required') ?? false
    if ((perMillion === undefined) === (perUnit === undefined)) {
      item.error(undefined, `\`${item.name()}\` must specify exactly one of \`cost_per_million\` or \`cost_per_unit\``)
      return undefined
    }
    if (pointers === undefined) return undefined
    return { ...pointers, perUnit: perUnit ?? (perMillion as number) / 1_000_000, required }
  })
}

function readCostPointers (item: TableReader, unified: boolean): { pointerNonStreaming: string; pointerStreaming: string } | undefined {
  const one = item.string('pointer', unified)
  const nonStreaming = unified ? undefined : item.string('pointer_nonstreaming')
  const streaming = unified ? undefined : item.string('pointer_streaming')
  const pair = one === undefined && nonStreaming !== undefined && streaming !== undefined
  if (!(one !== undefined && nonStreaming === undefined && streaming === undefined) && !pair) {
    if (!unified) {
      item.error(undefined, `\`${item.name()}\`: specify either \`pointer\` alone, or both \`pointer_nonstreaming\` and \`pointer_streaming\``)
    }
    return undefined
  }
  const [ns, st] = pair ? [nonStreaming, streaming] : [one as string, one as string]
  for (const [key, pointer] of [[pair ? 'pointer_nonstreaming' : 'pointer', ns], [pair ? 'pointer_streaming' : 'pointer', st]] as const) {
    if (pointer !== '' && !pointer.startsWith('/')) {
      item.error(key, `invalid JSON pointer \`${pointer}\`: it must be empty or start with "/"`)
      return undefined
    }
  }
  return { pointerNonStreaming: ns, pointerStreaming: st }
}

/** `extra_headers = [{ name = "X", value = "y" } | { name, delete = true }]`. */
export function readExtraHeaders (parent: TableReader): ExtraHeaderEntry[] | undefined {
  return readEntries(parent, 'extra_headers', ['name', 'value', 'delete'], item => {
    const name = item.string('name', true)
    const value = item.string('value')
    const del = item.boolean('delete')
    if ((value !== undefined) === (del === true)) return needsValueOrDelete(item)
    if (name === undefined) return undefined
    return del === true ? { name, delete: true } : { name, value }
  })
}

function needsValueOrDelete (item: TableReader): undefined {
  item.error(undefined, `\`${item.name()}\` needs exactly one of \`value\` or \`delete = true\``)
  return undefined
}

/** An array of tables under `key`, each checked for `keys` and read by `read` (undefined: reported, left out). */
function readEntries<T> (parent: TableReader, key: string, keys: string[], read: (item: TableReader) => T | undefined): T[] | undefined {
  const list = tablesOf(parent, key)
  if (!list) return undefined
  const out: T[] = []
  for (const item of list) {
    item.checkKeys(keys)
    const entry = read(item)
    if (entry !== undefined) out.push(entry)
  }
  return out
}

function tablesOf (parent: TableReader, key: string): TableReader[] | undefined {
  const v = parent.get(key)
  if (v === undefined) return undefined
  if (!Array.isArray(v)) { parent.wrongType(key, 'an array of tables'); return undefined }
  const out: TableReader[] = []
  v.forEach((item, i) => {
    if (isTable(item)) out.push(new TableReader(parent.ctx, item, [...parent.path, key, String(i)]))
    else parent.ctx.diags.error(parent.ctx.toml.at([...parent.path, key, String(i)]), `\`${parent.name(key)}[${i}]\` must be a table, got ${describeType(item)}`)
  })
  return out
}

const KEY_LOCATION_FORMS = '`env::VAR`, `path::FILE`, `path_from_env::VAR`, `dynamic::NAME` or `none`'

/** Parses an `api_key_location` string; undefined with `problem` set when malformed. */
export function parseKeyLocation (raw: string): { location?: SingleKeyLocation; problem?: string } {
  if (raw === 'none') return { location: { kind: 'none' } }
  const sep = raw.indexOf('::')
  const prefix = sep < 0 ? raw : raw.slice(0, sep)
  const rest = sep < 0 ? '' : raw.slice(sep + 2)
  if (sep >= 0 && rest === '') return { problem: `\`${raw}\` names no ${prefix === 'path' ? 'file' : 'variable'}` }
  switch (sep < 0 ? '' : prefix) {
    case 'env': return { location: { kind: 'env', name: rest } }
    case 'path': return { location: { kind: 'path', path: rest } }
    case 'path_from_env': return { location: { kind: 'path_from_env', name: rest } }
    case 'dynamic': return { location: { kind: 'dynamic', name: rest } }
    default: return { problem: `invalid api_key_location "${raw}": expected ${KEY_LOCATION_FORMS}` }
  }
}

/** A variant's sampling keys, as the request-level parameters are named (so merging them is one spread). */
export function readSamplingParams (r: TableReader): InferenceParams {
  const params: InferenceParams = {}
  const set = <K extends keyof InferenceParams>(key: K, value: InferenceParams[K] | undefined): void => {
    if (value !== undefined) params[key] = value
  }
  set('temperature', r.number('temperature'))
  set('max_tokens', r.number('max_tokens', { integer: true, positive: true }))
  set('top_p', r.number('top_p'))
  set('seed', r.number('seed', { integer: true, min: 0 }))
  set('presence_penalty', r.number('presence_penalty'))
  set('frequency_penalty', r.number('frequency_penalty'))
  set('stop_sequences', r.stringArray('stop_sequences'))
  set('json_mode', r.oneOf('json_mode', ['off', 'on', 'strict', 'tool'] as const))
  return params
}
