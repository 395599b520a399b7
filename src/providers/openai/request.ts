// Internal ModelRequest → OpenAI Chat Completions request (URL, headers, JSON body as text).
import type { ContentBlock, ModelRequest, ToolChoice } from '../../core/types.ts'
import type { ProviderContext, ProviderRequest } from '../adapter.ts'
import { ProviderError } from '../../core/errors.ts'
import { joinUrl } from '../http/url.ts'

/** Small differences between OpenAI-compatible servers, as options rather than copies of the adapter. */
export interface OpenAICompatibleQuirks {
  /** Field carrying `max_tokens` (OpenAI wants `max_completion_tokens`; most compatible servers `max_tokens`). Default `max_tokens`. */
  maxTokensField?: 'max_tokens' | 'max_completion_tokens'
  /** Server accepts `response_format: {type: "json_schema"}`; when false, json_mode `strict` downgrades to `json_object`. Default true. */
  jsonSchema?: boolean
  /** Send `stream_options: {include_usage: true}` when streaming. Default true. */
  streamOptions?: boolean
  /** Field carrying `seed` (Mistral: `random_seed`). Default `seed`. */
  seedField?: string
  /** Wire value for tool_choice `required` (Mistral: `any`). Default `required`. */
  requiredToolChoice?: string
  /** Provider options sent as top-level body fields of the same name (Mistral's `prompt_mode`). */
  bodyOptions?: readonly string[]
  /**
   * Server takes `tool_choice: {type: "allowed_tools", …}`: with a request's `allowed_tools`, every available tool is
   * sent and that choice narrows them, as TensorZero does for these types; elsewhere only the allowed tools are sent.
   */
  allowedToolsChoice?: boolean
}

export interface ResolvedQuirks {
  maxTokensField: 'max_tokens' | 'max_completion_tokens'
  jsonSchema: boolean
  streamOptions: boolean
  seedField: string
  requiredToolChoice: string
  bodyOptions: readonly string[]
  allowedToolsChoice: boolean
}

export function resolveQuirks (q: OpenAICompatibleQuirks | undefined): ResolvedQuirks {
  return {
    maxTokensField: q?.maxTokensField ?? 'max_tokens',
    jsonSchema: q?.jsonSchema ?? true,
    streamOptions: q?.streamOptions ?? true,
    seedField: q?.seedField ?? 'seed',
    bodyOptions: q?.bodyOptions ?? [],
    requiredToolChoice: q?.requiredToolChoice ?? 'required',
    allowedToolsChoice: q?.allowedToolsChoice ?? false
  }
}

export function resolveApiBase (ctx: ProviderContext, defaultApiBase: string | undefined, type: string): string {
  const base = ctx.provider.apiBase ?? defaultApiBase
  if (base === undefined || base === '') {
    throw new ProviderError(`${type}: provider \`${ctx.provider.name}\` needs \`api_base\` (type \`${type}\` has no default)`, 'client')
  }
  return base
}

export function baseHeaders (ctx: ProviderContext): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (ctx.apiKey !== undefined && ctx.apiKey !== '') headers.authorization = `Bearer ${ctx.apiKey}`
  return headers
}

type Part = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string; detail?: string } }
type WireMessage = Record<string, unknown>

function blockText (b: ContentBlock): string | undefined {
  if (b.type === 'text') return b.text
  if (b.type === 'raw_text') return b.value
  // Templates should have been rendered by the variant layer; if one reaches a model, send its arguments as JSON.
  if (b.type === 'template') return JSON.stringify(b.arguments)
  return undefined
}

function partsContent (parts: Part[]): string | Part[] {
  return parts.length === 1 && parts[0].type === 'text' ? parts[0].text : parts
}

const JSON_INSTRUCTION = 'Respond using JSON.'

function mentionsJson (m: WireMessage): boolean {
  const c = m.content
  if (typeof c === 'string') return c.toLowerCase().includes('json')
  if (Array.isArray(c)) return c.some((p: Part) => p.type === 'text' && p.text.toLowerCase().includes('json'))
  return false
}

/**
 * The system message. With json_mode `on`, OpenAI rejects `json_object` unless "json" appears in the messages, so
 * (as TensorZero does) "Respond using JSON." becomes the system text when there is none, or is prefixed to it when
 * neither the system text nor any message mentions JSON.
 */
function systemText (req: ModelRequest, messages: WireMessage[]): string | undefined {
  const system = req.system !== undefined && req.system !== '' ? req.system : undefined
  if (req.params.json_mode !== 'on') return system
  if (system === undefined) return JSON_INSTRUCTION
  if (system.toLowerCase().includes('json') || messages.some(mentionsJson)) return system
  return `${JSON_INSTRUCTION}\n\n${system}`
}

/** Messages in OpenAI wire form: system first, tool results as `tool` messages placed before the user's other content. */
function toOpenAIMessages (req: ModelRequest, type: string): WireMessage[] {
  const out: WireMessage[] = []
  for (const msg of req.messages) {
    const parts: Part[] = []
    const toolCalls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = []
    for (const b of msg.content) {
      switch (b.type) {
        case 'text':
        case 'raw_text':
        case 'template':
          parts.push({ type: 'text', text: blockText(b) as string })
          break
        case 'image':
          if (msg.role === 'assistant') throw new ProviderError(`${type}: image blocks are not supported in assistant messages`, 'unsupported')
          parts.push({ type: 'image_url', image_url: b.detail !== undefined ? { url: b.url, detail: b.detail } : { url: b.url } })
          break
        case 'tool_call':
          if (msg.role === 'user') throw new ProviderError(`${type}: tool_call blocks are not allowed in user messages`, 'client')
          toolCalls.push({ id: b.id, type: 'function', function: { name: b.name, arguments: b.arguments } })
          break
        case 'tool_result':
          if (msg.role === 'assistant') throw new ProviderError(`${type}: tool_result blocks are not allowed in assistant messages`, 'client')
          out.push({ role: 'tool', tool_call_id: b.id, content: b.result })
          break
      }
    }
    if (msg.role === 'user') {
      if (parts.length > 0) out.push({ role: 'user', content: partsContent(parts) })
    } else if (parts.length > 0 || toolCalls.length > 0) {
      const m: WireMessage = { role: 'assistant' }
      if (parts.length > 0) m.content = partsContent(parts)
      if (toolCalls.length > 0) m.tool_calls = toolCalls
      out.push(m)
    }
  }
  const system = systemText(req, out)
  if (system !== undefined) out.unshift({ role: 'system', content: system })
  return out
}

function toolChoiceWire (c: ToolChoice, q: ResolvedQuirks): unknown {
  if (typeof c === 'object') return { type: 'function', function: { name: c.specific } }
  if (c === 'required') return q.requiredToolChoice
  return c
}

function buildChatBody (req: ModelRequest, ctx: ProviderContext, type: string, q: ResolvedQuirks): Record<string, unknown> {
  const body: Record<string, unknown> = { model: ctx.provider.modelName, messages: toOpenAIMessages(req, type) }
  const p = req.params
  if (p.temperature !== undefined) body.temperature = p.temperature
  if (p.max_tokens !== undefined) body[q.maxTokensField] = p.max_tokens
  if (p.top_p !== undefined) body.top_p = p.top_p
  if (p.seed !== undefined) body[q.seedField] = p.seed
  if (p.presence_penalty !== undefined) body.presence_penalty = p.presence_penalty
  if (p.frequency_penalty !== undefined) body.frequency_penalty = p.frequency_penalty
  if (p.stop_sequences !== undefined && p.stop_sequences.length > 0) body.stop = p.stop_sequences
  if (p.reasoning_effort !== undefined) body.reasoning_effort = p.reasoning_effort
  for (const key of q.bodyOptions) {
    const value = ctx.provider.options[key]
    if (value !== undefined) body[key] = value
  }
  if (req.stream) {
    body.stream = true
    if (q.streamOptions) body.stream_options = { include_usage: true }
  }
  const tp = req.toolParams
  // `none` wins over the allowed list: both would be `tool_choice`, and "none of the allowed tools" is still none.
  const narrowed = tp !== undefined && q.allowedToolsChoice && tp.allowedTools !== undefined && tp.toolChoice !== 'none'
  const sent = narrowed ? tp.availableTools ?? tp.tools : tp?.tools ?? []
  if (tp !== undefined && sent.length > 0) {
    body.tools = sent.map(t => ({
      type: 'function',
      function: { name: t.name, description: t.description, parameters: t.parameters, strict: t.strict }
    }))
    body.tool_choice = narrowed ? allowedToolsWire(tp.toolChoice, tp.allowedTools ?? []) : toolChoiceWire(tp.toolChoice, q)
    if (tp.parallelToolCalls !== undefined) body.parallel_tool_calls = tp.parallelToolCalls
  }
  const mode = p.json_mode
  if (mode === 'on') {
    body.response_format = { type: 'json_object' }
  } else if (mode === 'strict') {
    body.response_format = req.outputSchema !== undefined && q.jsonSchema
      ? { type: 'json_schema', json_schema: { name: 'response', strict: true, schema: req.outputSchema } }
      : { type: 'json_object' }
  }
  // 'tool' is handled by the variant layer (it adds the `respond` tool); 'off' sends nothing.
  return body
}

/** OpenAI's `allowed_tools` choice: `required` stays required, any other choice (a named tool too) becomes `auto`. */
function allowedToolsWire (choice: ToolChoice, names: string[]): Record<string, unknown> {
  const tools = names.map(name => ({ type: 'function', function: { name } }))
  return { type: 'allowed_tools', allowed_tools: { mode: choice === 'required' ? 'required' : 'auto', tools } }
}

export function buildChatRequest (
  req: ModelRequest, ctx: ProviderContext, type: string, defaultApiBase: string | undefined, q: ResolvedQuirks
): ProviderRequest {
  const url = joinUrl(resolveApiBase(ctx, defaultApiBase, type), 'chat/completions')
  return { url, headers: baseHeaders(ctx), body: buildChatBody(req, ctx, type, q) }
}
