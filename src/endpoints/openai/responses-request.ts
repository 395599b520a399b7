// A Responses API body (`POST /v1/responses`) → ChatRequest, served by the same functions, variants and models as
// chat completions. Function tools, `tool_choice`, `parallel_tool_calls` and `text.format` map to their chat
// equivalents; tools the sidecar cannot run itself (web search, file search, computer use, MCP…) are a 400 naming
// them. `metadata` becomes the inference's tags. What the response echoes back is kept in `echo`.
import type { ChatRequest, InferenceTarget } from '../../core/request.ts'
import type { ExchangeReads } from '../../core/exchanges.ts'
import type { InferenceParams, ToolChoice, ToolDefinition } from '../../core/types.ts'
import { badRequest } from '../../core/errors.ts'
import { parseTags, tensorZeroFields } from './chat-request.ts'
import { parseResponsesInput } from './responses-input.ts'
import { isObject, optionalBoolean, optionalInteger, optionalNumber, optionalObject, optionalString, stringMap } from './validate.ts'
import type { Json } from './validate.ts'

/** Request fields a Response object repeats, as the client sent them (or OpenAI's defaults). */
export interface ResponseEcho {
  instructions: string | null
  max_output_tokens: number | null
  metadata: Record<string, string>
  parallel_tool_calls: boolean
  previous_response_id: string | null
  reasoning: { effort: string | null; summary: string | null }
  store: boolean
  temperature: number | null
  text: { format: Json }
  tool_choice: unknown
  tools: unknown[]
  top_p: number | null
  truncation: string
  user: string | null
}

interface ParsedResponsesRequest { request: ChatRequest; echo: ResponseEcho }

/** Request fields whose feature the sidecar does not have: a 400 rather than an answer that ignores them. */
const UNSERVED_FIELDS: Record<string, string> = {
  background: 'background responses',
  conversation: 'stored conversations (use `previous_response_id`)',
  prompt: 'stored prompt templates',
  // TensorZero has no Responses endpoint, so its raw fields have no shape here: refused, never silently dropped.
  'tensorzero::include_raw_usage': 'raw usage entries on the Responses API (use `/v1/chat/completions` or `/inference`)',
  'tensorzero::include_raw_response': 'raw response entries on the Responses API (use `/v1/chat/completions` or `/inference`)',
  'tensorzero::include_original_response': 'original responses on the Responses API (use `/v1/chat/completions` or `/inference`)'
}

export async function parseResponsesRequest (body: Json, target: InferenceTarget, exchanges: ExchangeReads,
  episodeHeader?: string): Promise<ParsedResponsesRequest> {
  for (const [key, feature] of Object.entries(UNSERVED_FIELDS)) {
    const v = body[key]
    if (v !== undefined && v !== null && v !== false) throw badRequest(`\`${key}\`: ${feature} are not supported by tz-sidecar`)
  }
  const fields = tensorZeroFields(body, target, episodeHeader)
  const metadata = body.metadata === undefined || body.metadata === null ? {} : stringMap(body.metadata, 'metadata')
  const tools = parseTools(body.tools)
  const choice = parseToolChoice(body.tool_choice)
  const textFormat = parseTextFormat(body.text)
  const reasoning = optionalObject(body, 'reasoning')
  const params: InferenceParams = {}
  const temperature = optionalNumber(body, 'temperature')
  const topP = optionalNumber(body, 'top_p')
  const maxOutput = optionalInteger(body, 'max_output_tokens', 1)
  const effort = reasoning === undefined ? undefined : optionalString(reasoning, 'effort')
  if (temperature !== undefined) params.temperature = temperature
  if (topP !== undefined) params.top_p = topP
  if (maxOutput !== undefined) params.max_tokens = maxOutput
  if (effort !== undefined) params.reasoning_effort = effort
  const parallel = optionalBoolean(body, 'parallel_tool_calls')
  const { input, previousEpisodeId } = await parseResponsesInput(body, exchanges)

  const request: ChatRequest = {
    ...fields,
    // Metadata are the client's own labels: TensorZero's tags (a `tensorzero::tags` entry wins over the same key).
    tags: { ...parseTags(metadata), ...fields.tags },
    // A conversation continued from an earlier response stays in its episode, unless the request names one.
    episodeId: fields.episodeId ?? previousEpisodeId,
    input,
    params,
    stream: optionalBoolean(body, 'stream') ?? false,
    includeUsage: true,
    dynamicTools: tools,
    ...choice,
    parallelToolCalls: parallel
  }
  if (textFormat.type === 'json_object') request.responseFormat = 'json_object'
  if (textFormat.type === 'json_schema') {
    request.responseFormat = 'json_schema'
    request.dynamicOutputSchema = textFormat.schema as Record<string, unknown>
  }
  const echo: ResponseEcho = {
    instructions: optionalString(body, 'instructions') ?? null,
    max_output_tokens: maxOutput ?? null,
    metadata,
    parallel_tool_calls: parallel ?? true,
    previous_response_id: optionalString(body, 'previous_response_id') ?? null,
    reasoning: { effort: effort ?? null, summary: reasoning === undefined ? null : optionalString(reasoning, 'summary') ?? null },
    store: optionalBoolean(body, 'store') ?? true,
    temperature: temperature ?? null,
    text: { format: textFormat },
    tool_choice: body.tool_choice ?? 'auto',
    tools: Array.isArray(body.tools) ? body.tools : [],
    top_p: topP ?? null,
    truncation: optionalString(body, 'truncation') ?? 'disabled',
    user: optionalString(body, 'user') ?? null
  }
  return { request, echo }
}

function parseTools (raw: unknown): ToolDefinition[] {
  if (raw === undefined || raw === null) return []
  if (!Array.isArray(raw)) throw badRequest('`tools` must be an array')
  return raw.map((tool: unknown, i) => {
    if (!isObject(tool)) throw badRequest(`\`tools[${i}]\` must be an object`)
    if (tool.type !== 'function') {
      throw badRequest(`\`tools[${i}]\`: tools of type \`${String(tool.type)}\` are not supported by tz-sidecar: it can offer only function tools, which your code runs`)
    }
    if (typeof tool.name !== 'string' || tool.name === '') throw badRequest(`\`tools[${i}].name\` must be a non-empty string`)
    if (tool.parameters !== undefined && tool.parameters !== null && !isObject(tool.parameters)) throw badRequest(`\`tools[${i}].parameters\` must be an object`)
    return {
      name: tool.name,
      description: typeof tool.description === 'string' ? tool.description : '',
      parameters: isObject(tool.parameters) ? tool.parameters : { type: 'object', properties: {} },
      strict: tool.strict === true
    }
  })
}

function functionName (raw: unknown, where: string): string {
  if (!isObject(raw) || raw.type !== 'function' || typeof raw.name !== 'string') throw badRequest(`\`${where}\` must be {"type":"function","name":…}`)
  return raw.name
}

/** `tool_choice`: a mode, one function (`{type:"function",name}`), or `allowed_tools` (a mode over some of the tools). */
function parseToolChoice (raw: unknown): { toolChoice?: ToolChoice; allowedTools?: string[] } {
  if (raw === undefined || raw === null) return {}
  if (raw === 'auto' || raw === 'none' || raw === 'required') return { toolChoice: raw }
  if (isObject(raw) && raw.type === 'function') return { toolChoice: { specific: functionName(raw, 'tool_choice') } }
  if (isObject(raw) && raw.type === 'allowed_tools') {
    if ((raw.mode !== 'auto' && raw.mode !== 'required') || !Array.isArray(raw.tools)) {
      throw badRequest('`tool_choice` of type allowed_tools needs `mode` ("auto" or "required") and `tools` (an array)')
    }
    return { toolChoice: raw.mode, allowedTools: raw.tools.map((t: unknown, i: number) => functionName(t, `tool_choice.tools[${i}]`)) }
  }
  if (isObject(raw) && typeof raw.type === 'string') throw badRequest(`\`tool_choice\`: tools of type \`${raw.type}\` are not supported by tz-sidecar`)
  throw badRequest('`tool_choice` must be "auto", "none", "required", {"type":"function","name":…} or {"type":"allowed_tools",…}')
}

/** `text.format`: text, json_object, or json_schema (a per-request output schema, as chat's `response_format`). */
function parseTextFormat (raw: unknown): Json {
  if (raw === undefined || raw === null) return { type: 'text' }
  if (!isObject(raw)) throw badRequest('`text` must be an object')
  const format = raw.format
  if (format === undefined || format === null) return { type: 'text' }
  if (!isObject(format)) throw badRequest('`text.format` must be an object')
  if (format.type === 'text' || format.type === 'json_object') return { type: format.type }
  if (format.type === 'json_schema') {
    if (!isObject(format.schema)) throw badRequest('`text.format.schema` must be an object (a JSON Schema)')
    if (typeof format.name !== 'string' || format.name === '') throw badRequest('`text.format.name` must be a non-empty string')
    return { type: 'json_schema', name: format.name, schema: format.schema, strict: format.strict === true, description: typeof format.description === 'string' ? format.description : null }
  }
  throw badRequest('`text.format.type` must be text, json_object or json_schema')
}
