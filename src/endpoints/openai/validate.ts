// Small runtime checks for wire-format fields; each failure is a 400 naming the field.
import { badRequest } from '../../core/errors.ts'
import { UUID_V7_TEXT } from '../../core/ids.ts'
import { NAMESPACE_TAG, RESERVED_PREFIX } from '../../core/names.ts'
import { WORKFLOW_OFFSET_MS, uuidV7Ms } from '../../core/workflow-evaluation.ts'

export type Json = Record<string, unknown>

export function isObject (v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function optionalNumber (body: Json, key: string): number | undefined {
  const v = body[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest(`\`${key}\` must be a number`)
  return v
}

export function optionalInteger (body: Json, key: string, min = 0): number | undefined {
  const v = optionalNumber(body, key)
  if (v !== undefined && (!Number.isInteger(v) || v < min)) throw badRequest(`\`${key}\` must be an integer ≥ ${min}`)
  return v
}

export function optionalBoolean (body: Json, key: string): boolean | undefined {
  const v = body[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'boolean') throw badRequest(`\`${key}\` must be a boolean`)
  return v
}

export function optionalString (body: Json, key: string): string | undefined {
  const v = body[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw badRequest(`\`${key}\` must be a string`)
  return v
}

export function optionalObject (body: Json, key: string): Json | undefined {
  const v = body[key]
  if (v === undefined || v === null) return undefined
  if (!isObject(v)) throw badRequest(`\`${key}\` must be an object`)
  return v
}

export function stringMap (v: unknown, key: string): Record<string, string> {
  if (!isObject(v)) throw badRequest(`\`${key}\` must be an object of strings`)
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') throw badRequest(`\`${key}.${k}\` must be a string`)
  }
  return v as Record<string, string>
}

// Clocks of sidecars and clients drift; TensorZero rejects ids from the future, we allow a little skew.
const FUTURE_SKEW_MS = 60_000

/** TensorZero's floor for ids: nobody used it before this (2020-01-23, the scaling-laws paper). */
const EARLIEST_ID_MS = 1_579_751_960_000

/**
 * An episode id must be a UUIDv7 whose timestamp is neither too early nor in the future (TensorZero's rule), unless it
 * is dated past TensorZero's workflow-evaluation offset: then it names an episode of a workflow run (checked when the
 * inference looks the run up).
 */
export function validEpisodeId (id: unknown, now = Date.now()): string {
  if (typeof id !== 'string' || !UUID_V7_TEXT.test(id)) throw badRequest(`Invalid Episode ID: \`${String(id)}\` is not a UUIDv7`)
  const ms = uuidV7Ms(id)
  if (ms >= WORKFLOW_OFFSET_MS) return id.toLowerCase()
  if (ms < EARLIEST_ID_MS) throw badRequest('Invalid Episode ID: Timestamp is too early')
  if (ms > now + FUTURE_SKEW_MS) throw badRequest(`Invalid Episode ID: Timestamp is in the future`)
  return id.toLowerCase()
}

/**
 * `tags` with the request's namespace, checked as TensorZero checks one, as the tag `tensorzero::namespace` it is
 * stored as. `tags` is the request's own fresh object: it is added to, not copied (no namespace: returned as it is).
 */
export function withNamespaceTag (tags: Record<string, string>, raw: unknown, field: string): Record<string, string> {
  if (raw === undefined || raw === null) return tags
  if (typeof raw !== 'string') throw badRequest(`\`${field}\` must be a string`)
  if (raw === '') throw badRequest('Namespace identifier cannot be empty')
  if (raw.startsWith(RESERVED_PREFIX)) throw badRequest(`Namespace cannot start with \`${RESERVED_PREFIX}\`: ${raw}`)
  tags[NAMESPACE_TAG] = raw
  return tags
}

/**
 * Fields TensorZero serves that this sidecar cannot (`prefix`: `tensorzero::` on the OpenAI routes): a clear 400
 * rather than an answer that silently differs.
 */
export function rejectUnservedFields (body: Json, prefix: string): void {
  const providerTools = body[`${prefix}provider_tools`]
  if (providerTools !== undefined && providerTools !== null && !(Array.isArray(providerTools) && providerTools.length === 0)) {
    throw badRequest(`\`${prefix}provider_tools\` (tools run by the provider) are not supported by tz-sidecar`)
  }
  const dynamicVariant = body[`${prefix}internal_dynamic_variant_config`]
  if (dynamicVariant !== undefined && dynamicVariant !== null) throw badRequest(`\`${prefix}internal_dynamic_variant_config\` is not supported by tz-sidecar`)
}
