// `extra_body` / `extra_headers` application (TensorZero semantics): the variant's config entries first, then the
// provider's, then the request's (those whose filters select the call), so later entries win. Applied once per call,
// to whatever the adapter built, whichever wire format it is.
import type { ExtraBodyPatch, ExtraEntryFilter, ExtraHeader, ModelRequest } from '../../core/types.ts'
import type { AudioProviderRequest, AudioRequestSpec, HttpRequestSpec, ProviderContext, ProviderRequest } from '../adapter.ts'
import { badRequest } from '../../core/errors.ts'

/**
 * Whether a request-level entry reaches this call: a `variant_name` entry only that variant's, a `model_name` entry
 * only that model's (and with `provider_name`, only that provider's), an entry with neither every call.
 */
function entryApplies (entry: ExtraEntryFilter, ctx: ProviderContext): boolean {
  if (entry.variantName !== undefined) return entry.variantName === ctx.variantName
  if (entry.modelName !== undefined) {
    return entry.modelName === ctx.modelName && (entry.providerName === undefined || entry.providerName === ctx.provider.name)
  }
  return true
}

function decodeToken (t: string): string {
  return t.indexOf('~') < 0 ? t : t.replace(/~1/g, '/').replace(/~0/g, '~')
}

function isContainer (v: unknown): v is Record<string, unknown> | unknown[] {
  return typeof v === 'object' && v !== null
}

/** The value at a JSON pointer (RFC 6901) inside `root`, or undefined when the path does not exist. */
export function valueAtPointer (root: unknown, pointer: string): unknown {
  if (pointer === '') return root
  let cur: unknown = root
  for (const raw of pointer.slice(1).split('/')) {
    if (!isContainer(cur)) return undefined
    const tok = decodeToken(raw)
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9][0-9]*)$/.test(tok)) return undefined
      cur = cur[Number(tok)]
    } else {
      cur = Object.hasOwn(cur, tok) ? cur[tok] : undefined
    }
  }
  return cur
}

/** Why `pointer` can never be applied (checked when a request is read, so the client hears of it before any call). */
export function pointerProblem (pointer: string): string | undefined {
  if (pointer === '' || pointer[0] !== '/') return `extra_body pointer \`${pointer}\` must start with \`/\``
  if (pointer.slice(1).split('/').map(decodeToken).includes('__proto__')) return `extra_body pointer \`${pointer}\` may not contain \`__proto__\``
  return undefined
}

/**
 * Set (creating missing objects) or delete the value at a JSON pointer (RFC 6901) inside `root`, in place. A pointer that
 * does not fit the body is the request's (or config's) mistake, never the provider's: a 400, which no fallback hides.
 */
export function applyPointer (root: Record<string, unknown>, pointer: string, op: { value?: unknown; delete?: boolean }): void {
  const problem = pointerProblem(pointer)
  if (problem !== undefined) throw badRequest(problem)
  const tokens = pointer.slice(1).split('/').map(decodeToken)
  let cur: Record<string, unknown> | unknown[] = root
  for (let i = 0; i < tokens.length - 1; i++) {
    const tok = tokens[i]
    const next: unknown = Array.isArray(cur) ? cur[Number(tok)] : cur[tok]
    if (isContainer(next)) {
      cur = next
      continue
    }
    if (op.delete === true) return // nothing to delete
    if (next !== undefined) {
      throw badRequest(`extra_body pointer \`${pointer}\`: \`${tokens.slice(0, i + 1).join('/')}\` is not an object`)
    }
    const created: Record<string, unknown> = {}
    if (Array.isArray(cur)) cur[Number(tok)] = created
    else cur[tok] = created
    cur = created
  }
  const last = tokens[tokens.length - 1]
  if (Array.isArray(cur)) {
    if (op.delete === true) {
      const idx = Number(last)
      if (Number.isInteger(idx) && idx >= 0 && idx < cur.length) cur.splice(idx, 1)
      return
    }
    if (last === '-') cur.push(op.value)
    else {
      const idx = Number(last)
      if (!Number.isInteger(idx) || idx < 0) throw badRequest(`extra_body pointer \`${pointer}\`: bad array index \`${last}\``)
      cur[idx] = op.value
    }
    return
  }
  if (op.delete === true) delete cur[last]
  else cur[last] = op.value
}

/** A configured (variant or provider) `extra_body` / `extra_headers` entry: it has no filters. */
type ConfiguredPatch = Pick<ExtraBodyPatch, 'pointer' | 'value' | 'delete'>
type ConfiguredHeader = Pick<ExtraHeader, 'name' | 'value' | 'delete'>

/** Apply provider-level then request-level body patches whose filters match. */
function applyExtraBody (
  body: Record<string, unknown>,
  providerPatches: Array<ConfiguredPatch> | undefined,
  requestPatches: ExtraBodyPatch[] | undefined,
  ctx: ProviderContext
): void {
  if (providerPatches !== undefined) for (const p of providerPatches) applyPointer(body, p.pointer, p)
  if (requestPatches !== undefined) {
    for (const p of requestPatches) if (entryApplies(p, ctx)) applyPointer(body, p.pointer, p)
  }
}

/** Apply provider-level then request-level header entries (names lower-cased; `delete` removes). */
export function applyExtraHeaders (
  headers: Record<string, string>,
  providerHeaders: Array<ConfiguredHeader> | undefined,
  requestHeaders: ExtraHeader[] | undefined,
  ctx: ProviderContext
): void {
  if (providerHeaders !== undefined) for (const h of providerHeaders) applyHeader(headers, h)
  if (requestHeaders !== undefined) for (const h of requestHeaders) if (entryApplies(h, ctx)) applyHeader(headers, h)
}

function applyHeader (headers: Record<string, string>, h: ConfiguredHeader): void {
  const name = h.name.toLowerCase()
  if (h.delete === true || h.value === undefined) delete headers[name]
  else headers[name] = h.value
}

/** The variant's entries then the provider's, copied only when both have some (most calls have neither). */
function configuredEntries<T> (variant: T[] | undefined, provider: T[] | undefined): T[] | undefined {
  return variant === undefined ? provider : provider === undefined ? variant : [...variant, ...provider]
}

/** A call's `extra_body`/`extra_headers`: the variant's config entries and the request's (embeddings have neither). */
type CallExtras = Pick<ModelRequest, 'variantExtraBody' | 'variantExtraHeaders' | 'extraBody' | 'extraHeaders'>

/**
 * The request as the transport sends it: the adapter's request with the variant's, the provider's and then the
 * request's `extra_body`/`extra_headers` applied, the body serialised.
 */
export function encodeRequest (built: ProviderRequest, extra: CallExtras | undefined, ctx: ProviderContext): HttpRequestSpec {
  const { provider } = ctx
  applyExtraBody(built.body, configuredEntries<ConfiguredPatch>(extra?.variantExtraBody, provider.extraBody), extra?.extraBody, ctx)
  applyExtraHeaders(built.headers, configuredEntries<ConfiguredHeader>(extra?.variantExtraHeaders, provider.extraHeaders), extra?.extraHeaders, ctx)
  return { url: built.url, method: 'POST', headers: built.headers, body: JSON.stringify(built.body) }
}

/**
 * An audio request as the transport sends it, with the provider's `extra_headers` and `extra_body` applied (audio
 * requests carry no request-level entries). In a form, an `extra_body` pointer names a field (`/language`): the form
 * has no nesting, so a deeper pointer is a config mistake, said as such.
 */
export function encodeAudioRequest (built: AudioProviderRequest, ctx: ProviderContext): AudioRequestSpec {
  const { provider } = ctx
  applyExtraHeaders(built.headers, provider.extraHeaders, undefined, ctx)
  const { url, headers, body } = built
  if (!Array.isArray(body)) {
    applyExtraBody(body, provider.extraBody, undefined, ctx)
    return { url, method: 'POST', headers, body: JSON.stringify(body) }
  }
  let parts = body
  for (const patch of provider.extraBody ?? []) {
    const field = patch.pointer.slice(1)
    if (pointerProblem(patch.pointer) !== undefined || field === '' || field.includes('/')) {
      throw badRequest(`extra_body pointer \`${patch.pointer}\` of provider \`${provider.name}\` cannot apply to a multipart audio form: it must name one field, as \`/language\``)
    }
    const name = decodeToken(field)
    parts = parts.filter(p => p.name !== name)
    if (patch.delete !== true) parts.push({ name, value: typeof patch.value === 'string' ? patch.value : JSON.stringify(patch.value) })
  }
  return { url, method: 'POST', headers, body: parts }
}
