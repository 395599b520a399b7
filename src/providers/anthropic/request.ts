// Internal ModelRequest → Anthropic Messages API request (`POST {api_base}` = …/v1/messages), as TensorZero builds it.
import type { ContentBlock, Message, ModelRequest, ToolParams } from '../../core/types.ts'
import type { ProviderContext, ProviderRequest } from '../adapter.ts'
import { ProviderError } from '../../core/errors.ts'
import { joinUrl, parseDataUrl } from '../http/url.ts'
import { toolArgumentsObject } from '../http/json.ts'
import { wireTurns } from '../http/messages.ts'

/** TensorZero posts to `api_base` itself; its default is the full Messages endpoint. */
export const ANTHROPIC_DEFAULT_API_BASE = 'https://api.anthropic.com/v1/messages'
const ANTHROPIC_API_VERSION = '2023-06-01'
const ANTHROPIC_STRUCTURED_OUTPUTS_BETA = 'structured-outputs-2025-11-13'
/** TensorZero's filler turn: Anthropic needs a user turn first and continues a trailing assistant turn. */
const LISTENING = '[listening]'
/** TensorZero's JSON prefill (json_mode on/strict of a JSON function); the reply is then prefixed with `{`. */
export const JSON_PREFILL = 'Here is the JSON requested:\n{'

/**
 * The Messages URL. TensorZero posts to `api_base` verbatim (`https://api.anthropic.com/v1/messages`); a base that does
 * not end in `/messages` (e.g. `https://api.anthropic.com/v1/`, as OpenAI-style configs write it) gets `messages` appended.
 */
export function messagesUrl (apiBase: string | undefined): string {
  const base = apiBase === undefined || apiBase === '' ? ANTHROPIC_DEFAULT_API_BASE : apiBase
  const trimmed = base.replace(/\/+$/, '')
  return trimmed.endsWith('/messages') ? trimmed : joinUrl(trimmed, 'messages')
}

/**
 * Anthropic requires `max_tokens`. When neither the variant nor the request sets it, TensorZero uses the model's known
 * output limit and refuses models it does not know (same table and message as TensorZero 2026.x).
 */
export function defaultMaxTokens (model: string): number {
  if (model.startsWith('claude-3-haiku') || model.startsWith('claude-3-opus')) return 4_096
  if (model.startsWith('claude-3-5-haiku') || model.startsWith('claude-3-5-sonnet')) return 8_192
  if (model.startsWith('claude-3-7-sonnet') || model.startsWith('claude-sonnet-4-202') || model === 'claude-sonnet-4-0' ||
    model.startsWith('claude-haiku-4-5') || model.startsWith('claude-sonnet-4-5') || model.startsWith('claude-opus-4-5')) return 64_000
  if (model.startsWith('claude-opus-4-202') || model === 'claude-opus-4-0' || model.startsWith('claude-opus-4-1-202') || model === 'claude-opus-4-1') return 32_000
  throw new ProviderError(
    `anthropic: The TensorZero Gateway doesn't know the output token limit for \`${model}\` and Anthropic requires you to provide a \`max_tokens\` value. ` +
    'Please set `max_tokens` in your configuration or inference request.', 'client')
}

type Wire = Record<string, unknown>

function imageBlock (url: string): Wire {
  const inline = parseDataUrl(url)
  if (inline !== undefined) {
    const source = { type: 'base64', media_type: inline.mimeType, data: inline.data }
    return { type: inline.mimeType.startsWith('image/') ? 'image' : 'document', source }
  }
  if (url.startsWith('data:')) throw new ProviderError('anthropic: only base64 `data:` URLs can be sent inline', 'client')
  return { type: 'image', source: { type: 'url', url } }
}

function contentBlock (b: ContentBlock, role: Message['role']): Wire | undefined {
  switch (b.type) {
    case 'text': return b.text === '' ? undefined : { type: 'text', text: b.text }
    case 'raw_text': return b.value === '' ? undefined : { type: 'text', text: b.value }
    // Templates are rendered by the variant layer; one reaching a model is sent as its arguments' JSON.
    case 'template': return { type: 'text', text: JSON.stringify(b.arguments) }
    case 'image':
      if (role === 'assistant') throw new ProviderError('anthropic: image blocks are not supported in assistant messages', 'unsupported')
      return imageBlock(b.url)
    case 'tool_call':
      if (role === 'user') throw new ProviderError('anthropic: tool_call blocks are not allowed in user messages', 'client')
      return { type: 'tool_use', id: b.id, name: b.name, input: toolArgumentsObject('anthropic', b.arguments) }
    case 'tool_result':
      if (role === 'assistant') throw new ProviderError('anthropic: tool_result blocks are not allowed in assistant messages', 'client')
      return { type: 'tool_result', tool_use_id: b.id, content: [{ type: 'text', text: b.result }] }
  }
}

/**
 * Messages as TensorZero sends them: one wire message per internal message (Anthropic itself joins consecutive
 * same-role turns), a `[listening]` user turn prepended when the first turn is not the user's and appended after a
 * trailing assistant turn. Empty text blocks and messages left empty are dropped (Anthropic rejects them).
 */
function toAnthropicMessages (messages: Message[]): Wire[] {
  const out = wireTurns(messages, contentBlock, (role, content): Wire => ({ role, content }))
  const listening = (): Wire => ({ role: 'user', content: [{ type: 'text', text: LISTENING }] })
  if (out.length === 0 || out[0].role !== 'user') out.unshift(listening())
  if (out[out.length - 1].role === 'assistant') out.push(listening())
  return out
}

/** Whether the request is a JSON function's (TensorZero prefills only for those). */
function isJsonFunction (req: ModelRequest): boolean {
  const ft = req.functionType
  // Without a function type on the request, json_mode on/strict stands for "a JSON answer is wanted".
  return ft === undefined ? true : ft === 'json'
}

function betaStructuredOutputs (ctx: ProviderContext): boolean {
  return ctx.provider.options.beta_structured_outputs === true
}

/** TensorZero's `needs_json_prefill`: json_mode on/strict of a JSON function, except strict with structured outputs. */
export function needsJsonPrefill (req: ModelRequest, ctx: ProviderContext): boolean {
  const mode = req.params.json_mode
  if (mode !== 'on' && mode !== 'strict') return false
  if (!isJsonFunction(req)) return false
  return !(betaStructuredOutputs(ctx) && mode === 'strict')
}

function toolFields (tp: ToolParams | undefined, beta: boolean): { tools?: Wire[]; tool_choice?: Wire } {
  // Anthropic has no tool_choice "none": TensorZero sends no tools instead.
  if (tp === undefined || tp.toolChoice === 'none') return {}
  const tools = tp.tools.map(t => {
    const w: Wire = { name: t.name, description: t.description, input_schema: t.parameters }
    if (beta) w.strict = t.strict
    return w
  })
  if (tools.length === 0) return { tools }
  const disable = tp.parallelToolCalls === false
  const c = tp.toolChoice
  const toolChoice: Wire = typeof c === 'object'
    ? { type: 'tool', name: c.specific, disable_parallel_tool_use: disable }
    : { type: c === 'required' ? 'any' : 'auto', disable_parallel_tool_use: disable }
  return { tools, tool_choice: toolChoice }
}

/** The body as an object, fields in TensorZero's order. */
function buildAnthropicBody (req: ModelRequest, ctx: ProviderContext): Wire {
  if (req.messages.length === 0) throw new ProviderError('anthropic: Anthropic requires at least one message', 'client')
  const model = ctx.provider.modelName
  const p = req.params
  const beta = betaStructuredOutputs(ctx)
  const messages = toAnthropicMessages(req.messages)
  if (needsJsonPrefill(req, ctx)) messages.push({ role: 'assistant', content: [{ type: 'text', text: JSON_PREFILL }] })
  const body: Wire = { model, messages, max_tokens: p.max_tokens ?? defaultMaxTokens(model), stream: req.stream }
  if (beta && p.json_mode === 'strict' && req.outputSchema !== undefined) body.output_format = { type: 'json_schema', schema: req.outputSchema }
  // Content-block form (not a string) so extra_body can add cache_control, as TensorZero does.
  if (req.system !== undefined && req.system !== '') body.system = [{ type: 'text', text: req.system }]
  if (p.temperature !== undefined) body.temperature = p.temperature
  if (p.top_p !== undefined) body.top_p = p.top_p
  if (p.stop_sequences !== undefined && p.stop_sequences.length > 0) body.stop_sequences = p.stop_sequences
  // Anthropic has no seed, presence/frequency penalty or reasoning_effort: TensorZero drops them (with a warning).
  const { tools, tool_choice: toolChoice } = toolFields(req.toolParams, beta)
  if (toolChoice !== undefined) body.tool_choice = toolChoice
  if (tools !== undefined) body.tools = tools
  return body
}

function anthropicHeaders (ctx: ProviderContext): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'anthropic-version': ANTHROPIC_API_VERSION }
  if (ctx.apiKey !== undefined && ctx.apiKey !== '') headers['x-api-key'] = ctx.apiKey
  if (betaStructuredOutputs(ctx)) headers['anthropic-beta'] = ANTHROPIC_STRUCTURED_OUTPUTS_BETA
  return headers
}

export function buildAnthropicRequest (req: ModelRequest, ctx: ProviderContext): ProviderRequest {
  return { url: messagesUrl(ctx.provider.apiBase), headers: anthropicHeaders(ctx), body: buildAnthropicBody(req, ctx) }
}
