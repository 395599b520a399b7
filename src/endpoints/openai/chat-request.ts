// An OpenAI chat completions body → ChatRequest, with the `tensorzero::` extension fields TensorZero's
// OpenAI-compatible endpoint reads (episode, variant pin, tags, dry run, params, credentials, extra body and headers).
import type { ChatRequest, InferenceTarget } from '../../core/request.ts'
import type { InferenceParams, ToolDefinition, ToolChoice } from '../../core/types.ts'
import { badRequest } from '../../core/errors.ts'
import { pinVariant } from '../../function/resolve.ts'
import { RESERVED_PREFIX } from '../../core/names.ts'
import { parseMessages } from './messages.ts'
import { parseExtraBody, parseExtraHeaders } from './extra-entries.ts'
import { isObject, optionalNumber, optionalInteger, optionalBoolean, optionalString, optionalObject, stringMap, validEpisodeId, withNamespaceTag, rejectUnservedFields } from './validate.ts'
import type { Json } from './validate.ts'
import { CACHE_MODES, type CacheMode, type CacheOptions } from '../../core/cache.ts'

// Exactly the fields TensorZero's OpenAI-compatible endpoint declares; anything else is an unknown field it ignores
// (or, with `tensorzero::deny_unknown_fields`, rejects): OpenAI's `user`, `metadata` and `store` among them.
const KNOWN_KEYS = new Set([
  'messages', 'model', 'frequency_penalty', 'max_tokens', 'max_completion_tokens', 'presence_penalty', 'response_format',
  'seed', 'stream', 'stream_options', 'temperature', 'tools', 'tool_choice', 'top_p', 'parallel_tool_calls', 'stop',
  'reasoning_effort', 'service_tier', 'verbosity', 'n',
  'tensorzero::variant_name', 'tensorzero::dryrun', 'tensorzero::episode_id', 'tensorzero::namespace',
  'tensorzero::cache_options', 'tensorzero::extra_body', 'tensorzero::extra_headers', 'tensorzero::tags',
  'tensorzero::deny_unknown_fields', 'tensorzero::credentials', 'tensorzero::internal_dynamic_variant_config',
  'tensorzero::provider_tools', 'tensorzero::params', 'tensorzero::include_raw_usage',
  'tensorzero::include_original_response', 'tensorzero::include_raw_response'
])

/** The `model` field, read first so the caller can resolve it (or pass the request through untouched). */
export function modelOf (body: unknown): string {
  if (!isObject(body)) throw badRequest('The request body must be a JSON object')
  if (typeof body.model !== 'string' || body.model === '') throw badRequest('`model` must be a non-empty string')
  return body.model
}

export function parseChatRequest (body: Json, target: InferenceTarget, episodeHeader?: string): ChatRequest {
  if (body['tensorzero::deny_unknown_fields'] === true) {
    const unknown = Object.keys(body).filter(k => !KNOWN_KEYS.has(k)).sort()
    if (unknown.length > 0) throw badRequest(`\`tensorzero::deny_unknown_fields\` is set to true, but found unknown fields in the request: [${unknown.join(', ')}]`)
  }
  const n = optionalInteger(body, 'n', 1)
  if (n !== undefined && n !== 1) throw badRequest('`n` must be 1: TensorZero returns exactly one choice')

  const stream = optionalBoolean(body, 'stream') ?? false
  const streamOptions = optionalObject(body, 'stream_options')
  const askedUsage = streamOptions === undefined ? undefined : optionalBoolean(streamOptions, 'include_usage')
  const includeRawUsage = optionalBoolean(body, 'tensorzero::include_raw_usage') ?? false
  const includeRawResponse = optionalBoolean(body, 'tensorzero::include_raw_response') ?? false
  if (stream && includeRawUsage && askedUsage === false) {
    throw badRequest('`tensorzero::include_raw_usage` requires `stream_options.include_usage` to be true (or omitted) for streaming requests')
  }
  // Raw usage comes with the usage it explains.
  const includeUsage = (askedUsage ?? false) || includeRawUsage

  const request: ChatRequest = {
    ...tensorZeroFields(body, target, episodeHeader),
    input: parseMessages(body.messages),
    params: parseParams(body),
    stream,
    includeUsage,
    includeRawUsage,
    includeRawResponse,
    includeOriginalResponse: optionalBoolean(body, 'tensorzero::include_original_response') ?? false,
    dynamicTools: parseTools(body.tools),
    ...parseToolChoice(body.tool_choice),
    parallelToolCalls: optionalBoolean(body, 'parallel_tool_calls')
  }
  parseResponseFormat(body.response_format, request)
  return request
}

/**
 * The `tensorzero::` extension fields every OpenAI-shaped inference route reads (episode, variant pin, tags and the
 * namespace tag, dry run, credentials, extra body and headers).
 */
export function tensorZeroFields (body: Json, target: InferenceTarget, episodeHeader?: string):
  Pick<ChatRequest, 'target' | 'episodeId' | 'tags' | 'dryrun' | 'credentials' | 'extraBody' | 'extraHeaders' | 'cacheOptions'> {
  const tz = (key: string): unknown => body[`tensorzero::${key}`]
  rejectUnservedFields(body, 'tensorzero::')
  const episodeRaw = tz('episode_id') ?? episodeHeader
  const variantName = optionalString(body, 'tensorzero::variant_name')
  return {
    target: variantName === undefined ? target : pinVariant(target, variantName),
    episodeId: episodeRaw === undefined || episodeRaw === null ? undefined : validEpisodeId(episodeRaw),
    tags: withNamespaceTag(parseTags(tz('tags')), tz('namespace'), 'tensorzero::namespace'),
    dryrun: optionalBoolean(body, 'tensorzero::dryrun') ?? false,
    credentials: tz('credentials') === undefined ? undefined : stringMap(tz('credentials'), 'tensorzero::credentials'),
    extraBody: parseExtraBody(tz('extra_body')),
    extraHeaders: parseExtraHeaders(tz('extra_headers')),
    cacheOptions: parseCacheOptions(tz('cache_options'), 'tensorzero::cache_options')
  }
}

/** `cache_options` as TensorZero reads it: `enabled` one of the four modes (default `off`), `max_age_s` a u32; other keys ignored. */
export function parseCacheOptions (raw: unknown, field: string): CacheOptions | undefined {
  if (raw === undefined || raw === null) return undefined
  if (!isObject(raw)) throw badRequest(`\`${field}\`: expected an object`)
  const maxAgeS = raw.max_age_s
  if (maxAgeS !== undefined && maxAgeS !== null && (typeof maxAgeS !== 'number' || !Number.isInteger(maxAgeS) || maxAgeS < 0 || maxAgeS > 0xffffffff)) {
    throw badRequest(`\`${field}.max_age_s\`: expected an unsigned 32-bit integer`)
  }
  const enabled = raw.enabled ?? 'off'
  if (typeof enabled !== 'string' || !(CACHE_MODES as readonly string[]).includes(enabled)) {
    throw badRequest(`\`${field}.enabled\`: unknown variant, expected \`on\`, \`off\`, \`read_only\` or \`write_only\``)
  }
  return { enabled: enabled as CacheMode, maxAgeS: typeof maxAgeS === 'number' ? maxAgeS : undefined }
}

function parseParams (body: Json): InferenceParams {
  const params: InferenceParams = {}
  setIfDefined(params, 'temperature', optionalNumber(body, 'temperature'))
  setIfDefined(params, 'max_tokens', maxTokens(optionalInteger(body, 'max_tokens', 1), optionalInteger(body, 'max_completion_tokens', 1)))
  setIfDefined(params, 'top_p', optionalNumber(body, 'top_p'))
  setIfDefined(params, 'seed', optionalInteger(body, 'seed', Number.MIN_SAFE_INTEGER))
  setIfDefined(params, 'presence_penalty', optionalNumber(body, 'presence_penalty'))
  setIfDefined(params, 'frequency_penalty', optionalNumber(body, 'frequency_penalty'))
  setIfDefined(params, 'reasoning_effort', optionalString(body, 'reasoning_effort'))
  const stop = body.stop
  if (typeof stop === 'string') params.stop_sequences = [stop]
  else if (Array.isArray(stop) && stop.every(s => typeof s === 'string')) params.stop_sequences = stop
  else if (stop !== undefined && stop !== null) throw badRequest('`stop` must be a string or an array of strings')

  // `tensorzero::params.chat_completion` overrides the top-level OpenAI parameters.
  const tzParams = optionalObject(body, 'tensorzero::params')
  const chat = tzParams === undefined ? undefined : optionalObject(tzParams, 'chat_completion')
  if (chat !== undefined) {
    setIfDefined(params, 'temperature', optionalNumber(chat, 'temperature'))
    setIfDefined(params, 'max_tokens', optionalInteger(chat, 'max_tokens', 1))
    setIfDefined(params, 'top_p', optionalNumber(chat, 'top_p'))
    setIfDefined(params, 'seed', optionalInteger(chat, 'seed', Number.MIN_SAFE_INTEGER))
    setIfDefined(params, 'presence_penalty', optionalNumber(chat, 'presence_penalty'))
    setIfDefined(params, 'frequency_penalty', optionalNumber(chat, 'frequency_penalty'))
    setIfDefined(params, 'reasoning_effort', optionalString(chat, 'reasoning_effort'))
    const jsonMode = optionalString(chat, 'json_mode')
    if (jsonMode !== undefined) {
      if (jsonMode !== 'off' && jsonMode !== 'on' && jsonMode !== 'strict' && jsonMode !== 'tool') throw badRequest('`tensorzero::params.chat_completion.json_mode` must be off, on, strict or tool')
      params.json_mode = jsonMode
    }
    if (Array.isArray(chat.stop_sequences)) params.stop_sequences = chat.stop_sequences.map(String)
  }
  return params
}

/** Both given: the smaller wins, as in TensorZero. */
function maxTokens (maxTokens: number | undefined, maxCompletionTokens: number | undefined): number | undefined {
  if (maxTokens === undefined) return maxCompletionTokens
  return maxCompletionTokens === undefined ? maxTokens : Math.min(maxTokens, maxCompletionTokens)
}

function setIfDefined<K extends keyof InferenceParams> (params: InferenceParams, key: K, value: InferenceParams[K] | undefined): void {
  if (value !== undefined) params[key] = value
}

export function parseTags (raw: unknown): Record<string, string> {
  if (raw === undefined || raw === null) return {}
  const tags = stringMap(raw, 'tensorzero::tags')
  for (const key of Object.keys(tags)) {
    if (key.startsWith(RESERVED_PREFIX)) throw badRequest(`Tag name cannot start with '${RESERVED_PREFIX}': ${key} (the prefix is reserved)`)
  }
  return { ...tags }
}

function parseTools (raw: unknown): ToolDefinition[] {
  if (raw === undefined || raw === null) return []
  if (!Array.isArray(raw)) throw badRequest('`tools` must be an array')
  return raw.map((tool: unknown, i) => {
    const fn = isObject(tool) ? tool.function : undefined
    if (!isObject(tool) || tool.type !== 'function' || !isObject(fn) || typeof fn.name !== 'string') {
      throw badRequest(`\`tools[${i}]\` must be {"type":"function","function":{"name":…}}`)
    }
    if (fn.parameters !== undefined && !isObject(fn.parameters)) throw badRequest(`\`tools[${i}].function.parameters\` must be an object`)
    return {
      name: fn.name,
      description: typeof fn.description === 'string' ? fn.description : '',
      parameters: (fn.parameters as Record<string, unknown> | undefined) ?? { type: 'object', properties: {} },
      strict: fn.strict === true
    }
  })
}

/** `tool_choice`: a mode, one named function, or OpenAI's `allowed_tools` (a mode over a subset of the tools). */
function parseToolChoice (raw: unknown): { toolChoice?: ToolChoice; allowedTools?: string[] } {
  if (raw === undefined || raw === null) return {}
  if (raw === 'auto' || raw === 'none' || raw === 'required') return { toolChoice: raw }
  if (isObject(raw) && raw.type === 'function' && isObject(raw.function) && typeof raw.function.name === 'string') {
    return { toolChoice: { specific: raw.function.name } }
  }
  if (isObject(raw) && raw.type === 'allowed_tools') {
    const spec = raw.allowed_tools
    if (!isObject(spec) || (spec.mode !== 'auto' && spec.mode !== 'required') || !Array.isArray(spec.tools)) {
      throw badRequest('`tool_choice.allowed_tools` must be {"mode": "auto"|"required", "tools": [{"type":"function","function":{"name":…}}]}')
    }
    const names = spec.tools.map((t: unknown, i: number) => {
      const fn = isObject(t) ? t.function : undefined
      if (!isObject(t) || t.type !== 'function' || !isObject(fn) || typeof fn.name !== 'string') {
        throw badRequest(`\`tool_choice.allowed_tools.tools[${i}]\` must be {"type":"function","function":{"name":…}}`)
      }
      return fn.name
    })
    return { toolChoice: spec.mode, allowedTools: names }
  }
  throw badRequest('`tool_choice` must be "auto", "none", "required", {"type":"function","function":{"name":…}} or {"type":"allowed_tools",…}')
}

function parseResponseFormat (raw: unknown, request: ChatRequest): void {
  if (raw === undefined || raw === null) return
  if (!isObject(raw)) throw badRequest('`response_format` must be an object')
  if (raw.type === 'text' || raw.type === 'json_object') { request.responseFormat = raw.type; return }
  if (raw.type === 'json_schema') {
    const spec = raw.json_schema
    if (!isObject(spec) || !isObject(spec.schema)) throw badRequest('`response_format.json_schema.schema` must be an object')
    request.responseFormat = 'json_schema'
    request.dynamicOutputSchema = spec.schema
    return
  }
  throw badRequest('`response_format.type` must be text, json_object or json_schema')
}
