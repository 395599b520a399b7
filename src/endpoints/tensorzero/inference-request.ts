// A TensorZero-native `POST /inference` body → ChatRequest. The body is read as TensorZero's gateway reads it: unknown
// fields are a 400, exactly one of `function_name` / `model_name`, `variant_name` only with a function, tags outside the
// reserved prefix (unless `internal`), dynamic tool params at the top level, `params.chat_completion` for sampling.
import type { ChatRequest, InferenceTarget } from '../../core/request.ts'
import type { InferenceParams, ToolChoice, ToolDefinition } from '../../core/types.ts'
import { badRequest } from '../../core/errors.ts'
import { FUNCTION_NAME_PREFIX, MODEL_NAME_PREFIX, RESERVED_PREFIX } from '../../core/names.ts'
import { pinVariant } from '../../function/resolve.ts'
import { parseCacheOptions } from '../openai/chat-request.ts'
import { parseExtraBody, parseExtraHeaders } from '../openai/extra-entries.ts'
import { isObject, optionalBoolean, optionalInteger, optionalNumber, optionalObject, optionalString, stringMap, validEpisodeId, withNamespaceTag, rejectUnservedFields } from '../openai/validate.ts'
import type { Json } from '../openai/validate.ts'
import { parseNativeInput } from './input.ts'

/** TensorZero's `Params` fields, in its order (the list its unknown-field error names). */
const FIELDS = [
  'function_name', 'model_name', 'episode_id', 'namespace', 'input', 'stream', 'params', 'variant_name', 'dryrun', 'internal',
  'tags', 'allowed_tools', 'additional_tools', 'tool_choice', 'parallel_tool_calls', 'provider_tools', 'output_schema',
  'cache_options', 'credentials', 'include_original_response', 'include_raw_response', 'include_raw_usage',
  'include_aggregated_response', 'extra_body', 'extra_headers', 'internal_dynamic_variant_config'
]
const FIELD_SET = new Set(FIELDS)
const CHAT_COMPLETION_FIELDS = new Set([
  'temperature', 'max_tokens', 'seed', 'top_p', 'presence_penalty', 'frequency_penalty', 'json_mode', 'stop_sequences',
  'reasoning_effort', 'service_tier', 'thinking_budget_tokens', 'verbosity'
])

export interface NativeInference {
  request: ChatRequest
  /** Add the model's raw answer as `original_response` (on a stream: each provider event's raw text as `original_chunk`). */
  includeOriginalResponse: boolean
  /** `include_raw_usage` / `include_raw_response`: TensorZero's `raw_usage` / `raw_response` entries per model call. */
  raw: { usage: boolean; response: boolean }
}

/**
 * What the body addresses, as the `tensorzero::` name the resolver reads: the function, or the model run through the
 * default function. Checked before anything else, with TensorZero's `Invalid inference target` messages.
 */
export function nativeTargetName (body: unknown): string {
  if (!isObject(body)) throw badRequest('invalid type: expected struct Params')
  rejectUnknownFields(body)
  // Shape problems come before target problems, as TensorZero deserializes the whole body first.
  if (body.input === undefined) throw badRequest('missing field `input`')
  const fn = optionalString(body, 'function_name')
  const model = optionalString(body, 'model_name')
  if (fn !== undefined && model !== undefined) throw badRequest('Invalid inference target: Only one of `function_name` or `model_name` can be provided')
  if (fn !== undefined) return FUNCTION_NAME_PREFIX + fn
  if (model === undefined) throw badRequest('Invalid inference target: Either `function_name` or `model_name` must be provided')
  if (body.variant_name !== undefined && body.variant_name !== null) {
    throw badRequest('Invalid inference target: `variant_name` cannot be provided when using `model_name`')
  }
  return MODEL_NAME_PREFIX + model
}

export function parseNativeInference (body: Json, target: InferenceTarget): NativeInference {
  const stream = optionalBoolean(body, 'stream') ?? false
  const flags = parseResponseFlags(body, stream)
  rejectUnsupported(body)
  const variantName = optionalString(body, 'variant_name')
  const credentials = body.credentials
  const request: ChatRequest = {
    target: variantName === undefined ? target : pinVariant(target, variantName),
    input: parseNativeInput(body.input),
    params: parseParams(optionalObject(body, 'params')),
    stream,
    includeUsage: true,
    includeRawUsage: flags.raw.usage,
    includeRawResponse: flags.raw.response,
    includeOriginalResponse: flags.includeOriginalResponse,
    episodeId: body.episode_id === undefined || body.episode_id === null ? undefined : validEpisodeId(body.episode_id),
    tags: parseTags(body),
    dryrun: optionalBoolean(body, 'dryrun') ?? false,
    credentials: credentials === undefined || credentials === null ? undefined : stringMap(credentials, 'credentials'),
    extraBody: parseExtraBody(body.extra_body, 'extra_body'),
    extraHeaders: parseExtraHeaders(body.extra_headers, 'extra_headers'),
    dynamicTools: parseAdditionalTools(body.additional_tools),
    allowedTools: parseAllowedTools(body.allowed_tools),
    toolChoice: parseToolChoice(body.tool_choice),
    parallelToolCalls: optionalBoolean(body, 'parallel_tool_calls'),
    cacheOptions: parseCacheOptions(body.cache_options, 'cache_options')
  }
  applyOutputSchema(request, optionalObject(body, 'output_schema'))
  return { request, ...flags }
}

/**
 * JSON functions answer against `output_schema` instead of their configured one. A chat function uses it only when
 * the request asks for JSON mode (`on`/`strict`: structured output); its `tool` mode is not served here.
 */
function applyOutputSchema (request: ChatRequest, schema: Json | undefined): void {
  const chatFunction = request.target.fn.type === 'chat'
  if (chatFunction && request.params.json_mode === 'tool') throw badRequest('JSON mode `tool` for chat functions is not supported by tz-sidecar')
  if (schema === undefined) return
  request.dynamicOutputSchema = schema
  if (chatFunction && (request.params.json_mode === 'on' || request.params.json_mode === 'strict')) request.responseFormat = 'json_schema'
}

function rejectUnknownFields (body: Json): void {
  const unknown = Object.keys(body).find(k => !FIELD_SET.has(k))
  if (unknown !== undefined) {
    throw badRequest(`unknown field \`${unknown.slice(0, 100)}\`, expected one of ${FIELDS.map(f => `\`${f}\``).join(', ')}`)
  }
}

function parseResponseFlags (body: Json, stream: boolean): Omit<NativeInference, 'request'> {
  const includeOriginalResponse = optionalBoolean(body, 'include_original_response') ?? false
  if (optionalBoolean(body, 'include_aggregated_response') === true && !stream) {
    throw badRequest('`include_aggregated_response` is only supported in streaming mode')
  }
  const raw = { usage: optionalBoolean(body, 'include_raw_usage') ?? false, response: optionalBoolean(body, 'include_raw_response') ?? false }
  return { includeOriginalResponse, raw }
}

/** Fields TensorZero accepts that this sidecar cannot honour: a clear 400 rather than an answer that silently differs. */
function rejectUnsupported (body: Json): void {
  for (const flag of ['include_aggregated_response']) {
    if (optionalBoolean(body, flag) === true) throw badRequest(`\`${flag}\` is not supported by tz-sidecar`)
  }
  rejectUnservedFields(body, '')
}

function parseTags (body: Json): Record<string, string> {
  const internal = optionalBoolean(body, 'internal') ?? false
  const tags = body.tags === undefined || body.tags === null ? {} : { ...stringMap(body.tags, 'tags') }
  if (!internal) {
    const reserved = Object.keys(tags).find(k => k.startsWith(RESERVED_PREFIX))
    if (reserved !== undefined) throw badRequest(`Tag name cannot start with 'tensorzero::': ${reserved}`)
  } else {
    tags['tensorzero::internal'] = 'true'
  }
  return withNamespaceTag(tags, body.namespace, 'namespace')
}

function parseParams (params: Json | undefined): InferenceParams {
  const out: InferenceParams = {}
  if (params === undefined) return out
  const unknown = Object.keys(params).find(k => k !== 'chat_completion')
  if (unknown !== undefined) throw badRequest(`params: unknown field \`${unknown.slice(0, 100)}\`, expected \`chat_completion\``)
  const chat = optionalObject(params, 'chat_completion')
  if (chat === undefined) return out
  for (const key of Object.keys(chat)) {
    if (!CHAT_COMPLETION_FIELDS.has(key)) throw badRequest(`params.chat_completion: unknown field \`${key.slice(0, 100)}\``)
    if (chat[key] === null || chat[key] === undefined) continue
    switch (key) {
      case 'temperature': case 'top_p': case 'presence_penalty': case 'frequency_penalty':
        out[key] = optionalNumber(chat, key); break
      case 'max_tokens': out.max_tokens = optionalInteger(chat, key, 0); break
      case 'seed': out.seed = optionalInteger(chat, key, 0); break
      case 'reasoning_effort': out.reasoning_effort = optionalString(chat, key); break
      case 'json_mode': {
        const mode = chat.json_mode
        if (mode !== 'off' && mode !== 'on' && mode !== 'strict' && mode !== 'tool') throw badRequest('params.chat_completion.json_mode: expected `off`, `on`, `strict` or `tool`')
        out.json_mode = mode
        break
      }
      case 'stop_sequences': {
        const stop = chat.stop_sequences
        if (!Array.isArray(stop) || !stop.every(s => typeof s === 'string')) throw badRequest('params.chat_completion.stop_sequences: expected an array of strings')
        out.stop_sequences = stop
        break
      }
      default:
        throw badRequest(`params.chat_completion.${key} is not supported by tz-sidecar`)
    }
  }
  return out
}

function parseAllowedTools (raw: unknown): string[] | undefined {
  if (raw === undefined || raw === null) return undefined
  if (!Array.isArray(raw) || !raw.every(n => typeof n === 'string')) throw badRequest('allowed_tools: expected an array of tool names')
  return raw
}

/** `additional_tools`: function tools (`type` absent, `function` or the legacy `client_side_function`). */
function parseAdditionalTools (raw: unknown): ToolDefinition[] {
  if (raw === undefined || raw === null) return []
  if (!Array.isArray(raw)) throw badRequest('additional_tools: expected an array of tools')
  return raw.map((tool: unknown, i) => {
    const where = `additional_tools[${i}]`
    if (!isObject(tool)) throw badRequest(`${where}: expected a tool object`)
    if (tool.type === 'openai_custom') throw badRequest(`${where}: \`openai_custom\` tools are not supported by tz-sidecar`)
    if (tool.type !== undefined && tool.type !== 'function' && tool.type !== 'client_side_function') throw badRequest(`${where}.type: unknown variant \`${String(tool.type)}\``)
    if (typeof tool.name !== 'string') throw badRequest(`${where}: missing field \`name\``)
    if (typeof tool.description !== 'string') throw badRequest(`${where}: missing field \`description\``)
    if (!isObject(tool.parameters)) throw badRequest(`${where}: \`parameters\` must be a JSON Schema object`)
    const strict = optionalBoolean(tool, 'strict') ?? false
    return { name: tool.name, description: tool.description, parameters: tool.parameters, strict }
  })
}

function parseToolChoice (raw: unknown): ToolChoice | undefined {
  if (raw === undefined || raw === null) return undefined
  if (raw === 'auto' || raw === 'none' || raw === 'required') return raw
  if (isObject(raw) && typeof raw.specific === 'string' && Object.keys(raw).length === 1) return { specific: raw.specific }
  throw badRequest('tool_choice: expected `none`, `auto`, `required` or {"specific": "<tool name>"}')
}
