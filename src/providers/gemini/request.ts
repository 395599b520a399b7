// Internal ModelRequest → Google AI Studio Gemini `generateContent` / `streamGenerateContent?alt=sse` request,
// as TensorZero's google_ai_studio_gemini provider builds it.
import type { ContentBlock, Message, ModelRequest, ToolParams } from '../../core/types.ts'
import type { ProviderContext, ProviderRequest } from '../adapter.ts'
import { ProviderError } from '../../core/errors.ts'
import { joinUrl, parseDataUrl } from '../http/url.ts'
import { toolArgumentsObject } from '../http/json.ts'
import { wireTurns } from '../http/messages.ts'

export const GEMINI_DEFAULT_API_BASE = 'https://generativelanguage.googleapis.com/v1beta/'

/** `{api_base}/models/{model}:generateContent`, or `:streamGenerateContent?alt=sse` when streaming. */
function geminiUrl (ctx: ProviderContext, stream: boolean): string {
  const base = ctx.provider.apiBase !== undefined && ctx.provider.apiBase !== '' ? ctx.provider.apiBase : GEMINI_DEFAULT_API_BASE
  const model = ctx.provider.modelName.replace(/^models\//, '')
  return joinUrl(base, `models/${encodeURIComponent(model)}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`)
}

/**
 * Removes `additionalProperties` and `$schema` at every level (Gemini's schema dialect rejects them), as TensorZero's
 * `process_jsonschema_for_gcp_vertex_gemini` does for output schemas; applied to tool parameters too.
 */
export function stripUnsupportedSchemaKeys (schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(stripUnsupportedSchemaKeys)
  if (typeof schema !== 'object' || schema === null) return schema
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'additionalProperties' || k === '$schema') continue
    out[k] = stripUnsupportedSchemaKeys(v)
  }
  return out
}

type Wire = Record<string, unknown>

const EXTENSION_MIME: Record<string, string> = {
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp', gif: 'image/gif', heic: 'image/heic',
  heif: 'image/heif', pdf: 'application/pdf'
}

function imagePart (url: string): Wire {
  const inline = parseDataUrl(url)
  if (inline !== undefined) return { inlineData: { mimeType: inline.mimeType, data: inline.data } }
  if (url.startsWith('data:')) throw new ProviderError('google_ai_studio_gemini: only base64 `data:` URLs can be sent inline', 'client')
  // TensorZero downloads the file and inlines it; adapters do no I/O, so the URL goes to Gemini as file data.
  const ext = /\.([a-z0-9]+)(?:[?#].*)?$/i.exec(url)?.[1]?.toLowerCase()
  const mimeType = ext !== undefined ? EXTENSION_MIME[ext] : undefined
  return { fileData: mimeType !== undefined ? { mimeType, fileUri: url } : { fileUri: url } }
}

function part (b: ContentBlock, role: Message['role']): Wire | undefined {
  switch (b.type) {
    case 'text': return { text: b.text }
    case 'raw_text': return { text: b.value }
    case 'template': return { text: JSON.stringify(b.arguments) }
    case 'image':
      if (role === 'assistant') throw new ProviderError('google_ai_studio_gemini: image blocks are not supported in assistant messages', 'unsupported')
      return imagePart(b.url)
    case 'tool_call':
      if (role === 'user') throw new ProviderError('google_ai_studio_gemini: tool_call blocks are not allowed in user messages', 'client')
      return { functionCall: { name: b.name, args: toolArgumentsObject('google_ai_studio_gemini', b.arguments) } }
    case 'tool_result':
      if (role === 'assistant') throw new ProviderError('google_ai_studio_gemini: tool_result blocks are not allowed in assistant messages', 'client')
      // Gemini matches results to calls by name (it has no call ids); TensorZero wraps the result like this.
      return { functionResponse: { name: b.name, response: { name: b.name, content: b.result } } }
  }
}

/** Roles user/model; messages without parts are dropped (as TensorZero does). */
function toGeminiContents (messages: Message[]): Wire[] {
  return wireTurns(messages, part, (role, parts): Wire => ({ role: role === 'assistant' ? 'model' : 'user', parts }))
}

/**
 * Tools as one `functionDeclarations` list; tool_choice → `functionCallingConfig`: none → NONE, auto → AUTO (ANY when
 * the request restricted `allowed_tools`, since Gemini rejects allowedFunctionNames with AUTO), required → ANY,
 * a specific tool → ANY limited to it.
 */
function geminiToolFields (tp: ToolParams | undefined): { tools?: Wire[]; toolConfig?: Wire } {
  // Every available tool is declared (TensorZero's); `allowed_tools` narrows them through allowedFunctionNames.
  const declared = tp?.availableTools ?? tp?.tools ?? []
  if (tp === undefined || declared.length === 0) return {}
  const tools = [{
    functionDeclarations: declared.map(t => ({ name: t.name, description: t.description, parameters: stripUnsupportedSchemaKeys(t.parameters) }))
  }]
  const c = tp.toolChoice
  const allowed = tp.allowedTools
  let config: Wire
  if (c === 'none') config = { mode: 'NONE' }
  else if (c === 'auto') config = allowed !== undefined ? { mode: 'ANY', allowedFunctionNames: allowed } : { mode: 'AUTO' }
  else if (c === 'required') config = allowed !== undefined ? { mode: 'ANY', allowedFunctionNames: allowed } : { mode: 'ANY' }
  else config = { mode: 'ANY', allowedFunctionNames: [c.specific] }
  return { tools, toolConfig: { functionCallingConfig: config } }
}

function buildGeminiBody (req: ModelRequest): Wire {
  const contents = toGeminiContents(req.messages)
  if (contents.length === 0) throw new ProviderError('google_ai_studio_gemini: Google AI Studio Gemini requires at least one message', 'client')
  const body: Wire = { contents }
  const { tools, toolConfig } = geminiToolFields(req.toolParams)
  if (tools !== undefined) body.tools = tools
  if (toolConfig !== undefined) body.toolConfig = toolConfig
  const p = req.params
  const gen: Wire = {}
  if (p.stop_sequences !== undefined && p.stop_sequences.length > 0) gen.stopSequences = p.stop_sequences
  if (p.temperature !== undefined) gen.temperature = p.temperature
  if (p.top_p !== undefined) gen.topP = p.top_p
  if (p.presence_penalty !== undefined) gen.presencePenalty = p.presence_penalty
  if (p.frequency_penalty !== undefined) gen.frequencyPenalty = p.frequency_penalty
  if (p.max_tokens !== undefined) gen.maxOutputTokens = p.max_tokens
  if (p.seed !== undefined) gen.seed = p.seed
  if (p.json_mode === 'on' || p.json_mode === 'strict') {
    gen.responseMimeType = 'application/json'
    if (req.outputSchema !== undefined) gen.responseSchema = stripUnsupportedSchemaKeys(req.outputSchema)
  }
  // reasoning_effort is not a Gemini parameter: TensorZero drops it (with a warning).
  body.generationConfig = gen
  if (req.system !== undefined && req.system !== '') body.systemInstruction = { parts: [{ text: req.system }] }
  return body
}

/** The key goes in the `x-goog-api-key` header (TensorZero appends `?key=`; the header keeps it out of URLs and proxy logs). */
function geminiHeaders (ctx: ProviderContext): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (ctx.apiKey !== undefined && ctx.apiKey !== '') headers['x-goog-api-key'] = ctx.apiKey
  return headers
}

export function buildGeminiRequest (req: ModelRequest, ctx: ProviderContext): ProviderRequest {
  const body = buildGeminiBody(req)
  return { url: geminiUrl(ctx, req.stream), headers: geminiHeaders(ctx), body }
}
