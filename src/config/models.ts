// `[models.*]` and `[embedding_models.*]`: routing lists, providers, and `provider::model` shorthands.
import { statSync } from 'node:fs'
import { parseKeyLocation, readExtraBody, readExtraHeaders, readTimeouts } from './common-fields.ts'
import { ANY_TYPE_OPTION_KEYS, API_BASE_REQUIRED, COMMON_PROVIDER_KEYS, DEFAULT_KEY_ENV, isKnownProviderType, KNOWN_PROVIDER_TYPES, modelKeyFor, PROVIDER_OPTION_KEYS, SHORTHAND_PROVIDER_TYPES } from '../providers/catalog.ts'
import type { LoadContext, TableReader } from './reader.ts'
import { RESERVED_PREFIX } from '../core/names.ts'
import type { KeyLocation, ModelConfig, ProviderConfig, SourceRef } from '../core/config.ts'

/** The key location a provider of `type` uses when `api_key_location` is omitted. */
function defaultKeyLocation (type: string): KeyLocation {
  const name = DEFAULT_KEY_ENV[type]
  return name === undefined ? { kind: 'none' } : { kind: 'env', name }
}

export function readModels (section: TableReader | undefined, ctx: LoadContext): Map<string, ModelConfig> {
  const models = new Map<string, ModelConfig>()
  if (!section) return models
  for (const [name, r] of section.entries()) models.set(name, readModel(r, name, ctx))
  return models
}

/** Always returns a model (even a broken one) so references to it do not raise a second, misleading error. */
function readModel (r: TableReader, name: string, ctx: LoadContext): ModelConfig {
  if (name.startsWith(RESERVED_PREFIX)) r.error(undefined, `model name \`${name}\` uses the reserved prefix \`${RESERVED_PREFIX}\``)
  r.checkKeys(['routing', 'providers', 'timeouts'])
  const providers = new Map<string, ProviderConfig>()
  const providersTable = r.sub('providers')
  if (!providersTable && !r.has('providers')) {
    // Often a config written for another gateway (`provider = …, model = …`): show TensorZero's shape.
    r.error(undefined, `\`${r.name()}\` is missing the required key \`providers\`` +
      ' (a model is `routing = ["p"]` plus `providers.p = { type = "openai", model_name = "…" }`)')
  }
  const declared = providersTable ? Object.keys(providersTable.table) : []
  for (const [providerName, p] of providersTable?.entries() ?? []) {
    const provider = readProvider(p, providerName, `provider \`${providerName}\` of model \`${name}\``, ctx)
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
  return { name, routing: [...new Set(routing)], providers, timeouts: readTimeouts(r), shorthand: false, source: r.at() }
}

function readProvider (r: TableReader, name: string, who: string, ctx: LoadContext): ProviderConfig | undefined {
  const type = r.string('type', true)
  if (type === undefined) return undefined
  if (!isKnownProviderType(type)) {
    r.error('type', `unknown provider type "${type}" for ${who}; known types: ${KNOWN_PROVIDER_TYPES.join(', ')}` +
      (type === 'ollama' ? ' (Ollama speaks the OpenAI API: use type = "openai" with api_base)' : ''))
    return undefined
  }
  const typeKeys = PROVIDER_OPTION_KEYS[type] ?? []
  r.checkKeys([...COMMON_PROVIDER_KEYS, ...typeKeys], (key) => ANY_TYPE_OPTION_KEYS.has(key) ? 'warn' : undefined,
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

  let keyLocation = defaultKeyLocation(type)
  const rawLocation = r.string('api_key_location')
  let explicit = false
  let locationOk = !r.has('api_key_location') || rawLocation !== undefined
  if (rawLocation !== undefined) {
    const parsed = parseKeyLocation(rawLocation)
    if (parsed.location) { keyLocation = parsed.location; explicit = true } else {
      r.error('api_key_location', `${who}: ${parsed.problem}`)
      locationOk = false
    }
  }
  // Only warn about a location that is valid: a broken one already has its error.
  if (locationOk) warnIfCredentialMissing(ctx, keyLocation, explicit, r.at(explicit ? 'api_key_location' : undefined), who, type)

  const options: Record<string, unknown> = {}
  for (const key of Object.keys(r.table)) {
    if (!COMMON_PROVIDER_KEYS.has(key)) options[key] = r.table[key]
  }
  const provider: ProviderConfig = {
    name,
    type,
    modelName: modelName ?? '',
    keyLocation,
    timeouts: readTimeouts(r),
    options,
    source: r.at(),
  }
  if (apiBase !== undefined) provider.apiBase = apiBase
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

/** A missing credential is a warning only: the provider fails at request time and routing falls back past it. */
function warnIfCredentialMissing (
  ctx: LoadContext, loc: KeyLocation, explicit: boolean, at: SourceRef, who: string, type: string,
): void {
  const suffix = explicit ? '' : ` (the default for type "${type}"; set api_key_location to change it)`
  const env = ctx.env
  if (loc.kind === 'env' && !env[loc.name]) {
    ctx.diags.warning(at, `API key for ${who}: environment variable ${loc.name} is not set${suffix}; requests to it will fail`)
  } else if (loc.kind === 'path' && !fileExists(loc.path)) {
    ctx.diags.warning(at, `API key for ${who}: file ${loc.path} does not exist; requests to it will fail`)
  } else if (loc.kind === 'path_from_env') {
    const p = env[loc.name]
    if (!p) ctx.diags.warning(at, `API key for ${who}: environment variable ${loc.name} (path of the key file) is not set; requests to it will fail`)
    else if (!fileExists(p)) ctx.diags.warning(at, `API key for ${who}: file ${p} (from ${loc.name}) does not exist; requests to it will fail`)
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
