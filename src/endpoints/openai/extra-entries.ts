// Request-level `extra_body` / `extra_headers` entries (`tensorzero::extra_body` on OpenAI routes, `extra_body` on
// `/inference`), read as TensorZero's untagged `DynamicExtraBody` / `DynamicExtraHeader`: each entry is exactly one of
// `{variant_name, …}`, `{model_name, provider_name?, …}` or neither, with `value` or `delete: true`, and no other key.
// A body entry in the legacy `model_provider_name` form is still read, as TensorZero reads it: its filter dropped, so it
// applies to every call. A header entry has no legacy form. Every entry is checked before any provider is called.
import type { ExtraBodyPatch, ExtraEntryFilter, ExtraHeader } from '../../core/types.ts'
import { badRequest } from '../../core/errors.ts'
import { pointerProblem } from '../../providers/http/extra.ts'
import { isObject } from './validate.ts'
import type { Json } from './validate.ts'

const NARROWING = 'with either `variant_name` or `model_name` (and optionally `provider_name`) to narrow it, and no other field'
const BODY_SHAPES = `each entry is \`{pointer, value}\` or \`{pointer, delete: true}\`, ${NARROWING}`
const HEADER_SHAPES = `each entry is \`{name, value}\` with a string value or \`{name, delete: true}\`, ${NARROWING}; ` +
  '`model_provider_name` is no longer accepted: use `model_name` and `provider_name`'

/** The filter keys of one entry, or undefined when they fit none of TensorZero's kinds. */
function entryFilter (entry: Json, payloadKeys: ReadonlySet<string>): ExtraEntryFilter | undefined {
  for (const key of Object.keys(entry)) {
    if (!payloadKeys.has(key) && key !== 'variant_name' && key !== 'model_name' && key !== 'provider_name') return undefined
  }
  const { variant_name: variantName, model_name: modelName, provider_name: providerName } = entry
  if (variantName !== undefined) {
    return typeof variantName === 'string' && modelName === undefined && providerName === undefined ? { variantName } : undefined
  }
  if (modelName !== undefined) {
    if (typeof modelName !== 'string') return undefined
    if (providerName === undefined || providerName === null) return { modelName }
    return typeof providerName === 'string' ? { modelName, providerName } : undefined
  }
  return providerName === undefined ? {} : undefined
}

/** `value` or `delete: true` (never both, never `delete: false`), or undefined when the entry has neither. */
function operation (entry: Json): { value?: unknown; delete?: true } | undefined {
  const hasValue = Object.hasOwn(entry, 'value')
  if (Object.hasOwn(entry, 'delete')) return entry.delete === true && !hasValue ? { delete: true } : undefined
  return hasValue ? { value: entry.value } : undefined
}

const BODY_KEYS = new Set(['pointer', 'value', 'delete'])
const HEADER_KEYS = new Set(['name', 'value', 'delete'])

/** One body entry in TensorZero's current form, or undefined when it is not one. */
function bodyEntry (entry: unknown): ExtraBodyPatch | undefined {
  if (!isObject(entry) || typeof entry.pointer !== 'string') return undefined
  const filter = entryFilter(entry, BODY_KEYS)
  const op = operation(entry)
  return filter === undefined || op === undefined ? undefined : { pointer: entry.pointer, ...op, ...filter }
}

/** A legacy `model_provider_name` entry as TensorZero reads it: its filter dropped (it then reaches every call). */
function legacyBodyEntry (entry: Json, field: string): ExtraBodyPatch {
  if (typeof entry.pointer !== 'string') {
    throw badRequest(`${field}: legacy \`extra_body\` entry with \`model_provider_name\` is missing \`pointer\``)
  }
  if (Object.hasOwn(entry, 'value')) return { pointer: entry.pointer, value: entry.value }
  if (entry.delete === true) return { pointer: entry.pointer, delete: true }
  throw badRequest(`${field}: legacy \`extra_body\` entry with \`model_provider_name\` has neither \`value\` nor \`delete: true\``)
}

export function parseExtraBody (raw: unknown, field = 'tensorzero::extra_body'): ExtraBodyPatch[] | undefined {
  if (raw === undefined || raw === null) return undefined
  if (!Array.isArray(raw)) throw badRequest(`\`${field}\` must be an array`)
  return raw.map((item: unknown, i) => {
    let entry = bodyEntry(item)
    if (entry === undefined && isObject(item) && Object.hasOwn(item, 'model_provider_name')) entry = legacyBodyEntry(item, field)
    if (entry === undefined) {
      throw badRequest(`${field}: data did not match any variant of untagged enum ExtraBody (entry ${i}: ${BODY_SHAPES})`)
    }
    const problem = pointerProblem(entry.pointer)
    if (problem !== undefined) throw badRequest(`\`${field}[${i}]\`: ${problem}`)
    return entry
  })
}

export function parseExtraHeaders (raw: unknown, field = 'tensorzero::extra_headers'): ExtraHeader[] | undefined {
  if (raw === undefined || raw === null) return undefined
  if (!Array.isArray(raw)) throw badRequest(`\`${field}\` must be an array`)
  return raw.map((entry: unknown, i) => {
    const filter = isObject(entry) && typeof entry.name === 'string' ? entryFilter(entry, HEADER_KEYS) : undefined
    const op = filter === undefined ? undefined : operation(entry as Json)
    if (filter === undefined || op === undefined || (op.delete !== true && typeof op.value !== 'string')) {
      throw badRequest(`${field}[${i}]: data did not match any variant of untagged enum ExtraHeader (${HEADER_SHAPES})`)
    }
    const name = (entry as Json).name as string
    const problem = headerProblem(name, op.value)
    if (problem !== undefined) throw badRequest(`\`${field}[${i}]\`: ${problem}`)
    return { name, ...(op.delete === true ? { delete: true } : { value: op.value as string }), ...filter }
  })
}

/** An HTTP token (RFC 9110), the only thing a header name may be. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** Headers that frame the message itself: the transport refuses them, or they would corrupt the request it sends. */
const FRAMING_HEADERS = new Set(['connection', 'content-length', 'expect', 'keep-alive', 'transfer-encoding', 'upgrade'])

/** Why a request-level extra header can never be sent (caught here, a 400, rather than as a failed provider call). */
function headerProblem (name: string, value: unknown): string | undefined {
  if (!HEADER_NAME.test(name)) return `\`${name.slice(0, 100)}\` is not a valid header name`
  if (FRAMING_HEADERS.has(name.toLowerCase())) return `header \`${name}\` cannot be set: it frames the HTTP message`
  if (typeof value === 'string' && /[\r\n\0]/.test(value)) return `the value of header \`${name}\` contains a line break or NUL`
  return undefined
}
