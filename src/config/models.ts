// `[models.*]` and `[embedding_models.*]`: routing lists, providers, and `provider::model` shorthands.
import { statSync } from 'node:fs'
import { parseKeyLocation, readCost, readExtraBody, readExtraHeaders, readTimeouts } from './common-fields.ts'
import { readNamespace } from './namespaces.ts'
import { ANY_TYPE_OPTION_KEYS, API_BASE_REQUIRED, COMMON_PROVIDER_KEYS, EMBEDDING_PROVIDER_KEYS, DEFAULT_KEY_ENV, isKnownProviderType, KNOWN_PROVIDER_TYPES, modelKeyFor, PROVIDER_OPTION_KEYS, SHORTHAND_PROVIDER_TYPES } from '../providers/catalog.ts'
import type { LoadContext, TableReader } from './reader.ts'
import { RESERVED_PREFIX } from '../core/names.ts'
import type { KeyLocation, ModelConfig, ProviderConfig, SingleKeyLocation, SourceRef, TimeoutsConfig } from '../core/config.ts'
import { isTable } from './toml-files.ts'

/** The key location a provider of `type` uses when `api_key_location` is omitted. */
function defaultKeyLocation (type: string): KeyLocation {
  const name = DEFAULT_KEY_ENV[type]
  return name === undefined ? { kind: 'none' } : { kind: 'env', name }
}

type ModelKind = 'model' | 'embedding_model'

export function readModels (section: TableReader | undefined, ctx: LoadContext, kind: ModelKind = 'model'): Map<string, ModelConfig> {
  const models = new Map<string, ModelConfig>()
  if (!section) return models
  for (const [name, r] of section.entries()) models.set(name, readModel(r, name, ctx, kind))
  return models
}

/** Keys TensorZero accepts on a model that the sidecar has nothing to do with: it talks to providers itself. */
const MODEL_WARNED_KEYS: Readonly<Record<string, string>> = {
  skip_relay: 'is not used by tz-sidecar (it never relays to another gateway)',
}

/** Always returns a model (even a broken one) so references to it do not raise a second, misleading error. */
function readModel (r: TableReader, name: string, ctx: LoadContext, kind: ModelKind): ModelConfig {
  if (name.startsWith(RESERVED_PREFIX)) r.error(undefined, `model name \`${name}\` uses the reserved prefix \`${RESERVED_PREFIX}\``)
  let namespace: string | undefined
  if (kind === 'model') {
    r.checkKeys(['routing', 'providers', 'timeouts', 'namespace', ...Object.keys(MODEL_WARNED_KEYS)])
    for (const key of Object.keys(MODEL_WARNED_KEYS)) if (r.has(key)) r.warning(key, `\`${r.name(key)}\` ${MODEL_WARNED_KEYS[key]}`)
    namespace = readNamespace(r)
  } else {
    // Embedding models have one `timeout_ms`; TensorZero removed their `timeouts` table and refuses it.
    r.checkKeys(['routing', 'providers', 'timeout_ms'])
  }
  const providers = new Map<string, ProviderConfig>()
  const providersTable = r.sub('providers')
  if (!providersTable && !r.has('providers')) {
    // Often a config written for another gateway (`provider = …, model = …`): show TensorZero's shape.
    r.error(undefined, `\`${r.name()}\` is missing the required key \`providers\`` +
      ' (a model is `routing = ["p"]` plus `providers.p = { type = "openai", model_name = "…" }`)')
  }
  const declared = providersTable ? Object.keys(providersTable.table) : []
  for (const [providerName, p] of providersTable?.entries() ?? []) {
    const provider = readProvider(p, providerName, `provider \`${providerName}\` of model \`${name}\``, ctx, kind)
    if (provider) providers.set(providerName, provider)
  }

  const routing = r.stringArray('routing', true) ?? []
  if (r.has('routing') && Array.isArray(r.get('routing')) && routing.length === 0) {
    r.error('routing', `\`${r.name('routing')}\` must name at least one provider`)
  }
  const seen = new Set<string>()
  routing.forEach((entry, i) => {
    const at = ctx.toml.at([...r.path, 'routing', String(i)])
    if (seen.has(entry)) ctx.diags.error(at, `\`${r.name('routing')}\` lists provider \`${entry}\` twice`)
    else if (providersTable && !declared.includes(entry)) {
      ctx.diags.error(at, `\`${r.name('routing')}\` names \`${entry}\`, which is not a provider of model \`${name}\`` +
        ` (providers: ${declared.length ? declared.join(', ') : 'none'})`)
    }
    seen.add(entry)
  })
  if (r.has('routing')) {
    for (const providerName of declared) {
      if (!routing.includes(providerName)) {
        ctx.diags.error(ctx.toml.at([...r.path, 'providers', providerName]),
          `provider \`${providerName}\` of model \`${name}\` is not listed in \`routing\``)
      }
    }
  }
  return { name, routing: [...new Set(routing)], providers, timeouts: readModelTimeouts(r, kind), shorthand: false, ...(namespace === undefined ? {} : { namespace }), source: r.at() }
}

/** Chat models and their providers: TensorZero's `timeouts` table. Embeddings: `timeout_ms`, a non-streaming total. */
function readModelTimeouts (r: TableReader, kind: ModelKind): TimeoutsConfig {
  if (kind === 'model') return readTimeouts(r)
  const ms = r.number('timeout_ms', { integer: true, positive: true })
  return ms === undefined ? {} : { nonStreamingTotalMs: ms }
}

function readProvider (r: TableReader, name: string, who: string, ctx: LoadContext, kind: ModelKind): ProviderConfig | undefined {
  const type = r.string('type', true)
  if (type === undefined) return undefined
  if (!isKnownProviderType(type)) {
    r.error('type', `unknown provider type "${type}" for ${who}; known types: ${KNOWN_PROVIDER_TYPES.join(', ')}` +
      (type === 'ollama' ? ' (Ollama speaks the OpenAI API: use type = "openai" with api_base)' : ''))
    return undefined
  }
  const typeKeys = PROVIDER_OPTION_KEYS[type] ?? []
  const commonKeys = kind === 'model' ? COMMON_PROVIDER_KEYS : EMBEDDING_PROVIDER_KEYS
  r.checkKeys([...commonKeys, ...typeKeys], (key) => ANY_TYPE_OPTION_KEYS.has(key) && key !== 'timeouts' ? 'warn' : undefined,
    `is not known for provider type "${type}"`)

  const modelKey = modelKeyFor(type)
  let modelName: string | undefined
  for (const key of modelKey.keys) modelName ??= r.string(key)
  if (modelName === undefined && modelKey.required && !modelKey.keys.some((k) => r.has(k))) {
    r.error(undefined, `${who} (type "${type}") is missing the required key ${modelKey.keys.map((k) => `\`${k}\``).join(' or ')}`)
  }

  const apiBase = r.string('api_base')
  if (apiBase !== undefined && !isHttpUrl(apiBase)) r.error('api_base', `\`${r.name('api_base')}\` must be an http(s) URL, got "${apiBase}"`)
  if (apiBase === undefined && !r.has('api_base') && API_BASE_REQUIRED.has(type)) {
    r.error(undefined, `${who} (type "${type}") is missing the required key \`api_base\``)
  }

  const read = readKeyLocation(r, who)
  const keyLocation = read.location ?? defaultKeyLocation(type)
  const explicit = read.location !== undefined
  // Only warn about a location that is valid: a broken one already has its error.
  if (read.ok) warnIfCredentialMissing(ctx, keyLocation, explicit, r.at(explicit ? 'api_key_location' : undefined), who, type)

  if (type === 'openai') readContentTypeOverrides(r)

  const options: Record<string, unknown> = {}
  for (const key of Object.keys(r.table)) {
    if (!commonKeys.has(key)) options[key] = r.table[key]
  }
  const provider: ProviderConfig = {
    name,
    type,
    modelName: modelName ?? '',
    keyLocation,
    timeouts: readModelTimeouts(r, kind),
    options,
    source: r.at(),
  }
  if (apiBase !== undefined) provider.apiBase = apiBase
  const cost = readCost(r, kind === 'embedding_model')
  if (cost !== undefined) provider.cost = cost
  const extraBody = readExtraBody(r)
  if (extraBody) provider.extraBody = extraBody
  const extraHeaders = readExtraHeaders(r)
  if (extraHeaders) provider.extraHeaders = extraHeaders
  return provider
}

function isHttpUrl (s: string): boolean {
  try {
    const u = new URL(s)
    return u.protocol === 'http:' || u.protocol === 'https:'
  } catch { return false }
}

/** `api_key_location`: a string, or `{ default = …, fallback = … }`. `ok: false` when it was given but is broken. */
function readKeyLocation (r: TableReader, who: string): { location?: KeyLocation; ok: boolean } {
  if (!r.has('api_key_location')) return { ok: true }
  const single = (reader: TableReader, key: string): SingleKeyLocation | undefined => {
    const raw = reader.string(key, true)
    if (raw === undefined) return undefined
    const parsed = parseKeyLocation(raw)
    if (parsed.location === undefined) reader.error(key, `${who}: ${parsed.problem ?? ''}`)
    return parsed.location
  }
  if (!isTable(r.get('api_key_location'))) {
    const location = single(r, 'api_key_location')
    return { location, ok: location !== undefined }
  }
  const t = r.sub('api_key_location')!
  t.checkKeys(['default', 'fallback'])
  const primary = single(t, 'default')
  const fallback = single(t, 'fallback')
  if (primary === undefined || fallback === undefined) return { ok: false }
  return { location: { kind: 'with_fallback', default: primary, fallback }, ok: true }
}

function warnIfCredentialMissing (ctx: LoadContext, loc: KeyLocation, explicit: boolean, at: SourceRef, who: string, type: string): void {
  const problem = credentialProblem(ctx.env, loc)
  if (problem === undefined) return
  const suffix = explicit ? '' : ` (the default for type "${type}"; set api_key_location to change it)`
  ctx.diags.warning(at, `API key for ${who}: ${problem}${suffix}; requests to it will fail`)
}

/** Why no key would be found at start, if that can be known now. A missing credential is a warning only: the
 * provider fails at request time and routing falls back past it. */
function credentialProblem (env: NodeJS.ProcessEnv, loc: KeyLocation): string | undefined {
  switch (loc.kind) {
    case 'env': return env[loc.name] ? undefined : `environment variable ${loc.name} is not set`
    case 'path': return fileExists(loc.path) ? undefined : `file ${loc.path} does not exist`
    case 'path_from_env': {
      const p = env[loc.name]
      if (!p) return `environment variable ${loc.name} (path of the key file) is not set`
      return fileExists(p) ? undefined : `file ${p} (from ${loc.name}) does not exist`
    }
    case 'with_fallback': {
      const first = credentialProblem(env, loc.default)
      const second = first === undefined ? undefined : credentialProblem(env, loc.fallback)
      return second === undefined ? undefined : `${first ?? ''}, and its fallback: ${second}`
    }
    default: return undefined
  }
}

function fileExists (p: string): boolean {
  try { return statSync(p).isFile() } catch { return false }
}

/** `provider_type::model_name` split, or undefined when `name` has no `::`. */
export function parseShorthand (name: string): { type: string; modelName: string } | { problem: string } | undefined {
  const sep = name.indexOf('::')
  if (sep < 0) return undefined
  const type = name.slice(0, sep)
  const modelName = name.slice(sep + 2)
  if (!isKnownProviderType(type)) {
    return { problem: `"${name}" is not a [models] key, and "${type}" is not a known provider type for a shorthand; known types: ${KNOWN_PROVIDER_TYPES.join(', ')}` }
  }
  if (!SHORTHAND_PROVIDER_TYPES.has(type)) {
    return { problem: `"${name}": provider type "${type}" cannot be used as a shorthand (it needs more settings); define a [models] entry` }
  }
  if (modelName === '') return { problem: `"${name}": the shorthand names no model` }
  return { type, modelName }
}

/** The one-provider model TensorZero builds for a shorthand: the provider is named after its type. */
export function shorthandModel (name: string, type: string, modelName: string, source: SourceRef): ModelConfig {
  const provider: ProviderConfig = {
    name: type, type, modelName, keyLocation: defaultKeyLocation(type), timeouts: {}, options: {}, source,
  }
  return { name, routing: [type], providers: new Map([[type, provider]]), timeouts: {}, shorthand: true, source }
}

/**
 * Makes sure `name` refers to a model: a table key (which wins), or a shorthand that is then added to `models`.
 * Returns a problem message when it is neither.
 */
export function ensureModel (
  ctx: LoadContext | undefined, models: Map<string, ModelConfig>, name: string, at: SourceRef, kindLabel = '[models]',
): string | undefined {
  if (models.has(name)) return undefined
  const parsed = parseShorthand(name)
  if (parsed === undefined) return `model \`${name}\` is not defined in ${kindLabel} and is not a \`provider::model\` shorthand`
  if ('problem' in parsed) return parsed.problem
  models.set(name, shorthandModel(name, parsed.type, parsed.modelName, at))
  if (ctx) warnIfCredentialMissing(ctx, defaultKeyLocation(parsed.type), false, at, `shorthand model \`${name}\``, parsed.type)
  return undefined
}

/** TensorZero's `ContentBlockType`: how an OpenAI provider sends a file input of a given MIME type. */
const CONTENT_BLOCK_TYPES = ['image_url', 'file', 'input_audio'] as const

/** Checked as TensorZero checks it; the sidecar sends every image input as `image_url` and takes no other files. */
function readContentTypeOverrides (r: TableReader): void {
  const overrides = r.sub('content_type_overrides')
  if (overrides === undefined) return
  const valid = Object.keys(overrides.table).map(mime => overrides.oneOf(mime, CONTENT_BLOCK_TYPES)).every(v => v !== undefined)
  if (valid) r.warning('content_type_overrides', `\`${r.name('content_type_overrides')}\` is not used by tz-sidecar: it sends image inputs as \`image_url\` blocks and accepts no other file inputs`)
}
