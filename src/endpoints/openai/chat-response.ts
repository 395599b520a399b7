// Internal results → OpenAI chat completion bodies and stream chunks, shaped as TensorZero's OpenAI-compatible
// endpoint answers (its ids, `model` string and extra fields), so clients written against it read ours unchanged.
import type { OutputBlock, FinishReason, StreamDelta, Usage } from '../../core/types.ts'
import type { CompletedInference, InferenceMeta } from '../../function/run.ts'
import { rawFields, type RawFields, type RawResponseEntry } from './raw-entries.ts'

type OpenAIFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter'

function openAIFinishReason (reason: FinishReason | undefined, hasToolCalls: boolean): OpenAIFinishReason {
  switch (reason) {
    case 'length': return 'length'
    case 'content_filter': return 'content_filter'
    case 'tool_call': return 'tool_calls'
    case 'stop':
    case 'stop_sequence': return 'stop'
    default: return hasToolCalls ? 'tool_calls' : 'stop'
  }
}

interface UsageBody {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  prompt_tokens_details?: { cached_tokens: number }
  tensorzero_provider_cache_write_input_tokens?: number
  /** Always present, as in TensorZero: null when no provider of the call has a `cost` config. */
  tensorzero_cost: number | null
}

function usageBody (usage: Usage): UsageBody {
  const prompt = usage.inputTokens ?? 0
  const completion = usage.outputTokens ?? 0
  const body: UsageBody = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, tensorzero_cost: usage.cost ?? null }
  if (usage.cacheReadInputTokens !== undefined) body.prompt_tokens_details = { cached_tokens: usage.cacheReadInputTokens }
  if (usage.cacheWriteInputTokens !== undefined) body.tensorzero_provider_cache_write_input_tokens = usage.cacheWriteInputTokens
  return body
}

function messageOf (output: OutputBlock[]): { content: string | null; tool_calls?: unknown[]; role: 'assistant' } {
  let text: string | null = null
  let toolCalls: unknown[] | undefined
  for (const block of output) {
    if (block.type === 'text') text = (text ?? '') + block.text
    else if (block.type === 'tool_call') {
      toolCalls ??= []
      toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: block.arguments } })
    }
  }
  return toolCalls === undefined ? { content: text, role: 'assistant' } : { content: text, tool_calls: toolCalls, role: 'assistant' }
}

export function completionBody (result: CompletedInference, created = Math.floor(Date.now() / 1000), raw: RawFields = {}): Record<string, unknown> {
  const message = messageOf(result.output)
  return {
    id: result.inferenceId,
    episode_id: result.episodeId,
    choices: [{
      index: 0,
      finish_reason: openAIFinishReason(result.finishReason, message.tool_calls !== undefined),
      message
    }],
    created,
    model: result.responseModel,
    system_fingerprint: '',
    service_tier: null,
    object: 'chat.completion',
    usage: usageBody(result.usage),
    ...rawFields(result.modelInferences, raw),
    ...(raw.original === true && result.rawResponse !== undefined ? { tensorzero_original_response: result.rawResponse } : {})
  }
}

/**
 * Which fields carry a provider event's raw text on a stream: `tensorzero_raw_chunk` (`tensorzero::include_raw_response`)
 * and the deprecated `tensorzero_original_chunk` (`tensorzero::include_original_response`), as TensorZero names them.
 */
export interface RawChunkFields { response?: boolean; original?: boolean }

/** Serialises the chunks of one stream; the envelope fields are the same on every chunk. */
export class ChunkWriter {
  private readonly head: string
  private readonly rawChunks: RawChunkFields
  private sentRole = false
  private sawToolCalls = false

  constructor (meta: InferenceMeta, rawChunks: RawChunkFields = {}, created = Math.floor(Date.now() / 1000)) {
    // The fixed envelope is serialised once per stream, not once per chunk.
    this.head = `{"id":${JSON.stringify(meta.inferenceId)},"episode_id":${JSON.stringify(meta.episodeId)},"created":${created},` +
      `"model":${JSON.stringify(meta.responseModel)},"system_fingerprint":"","service_tier":null,"object":"chat.completion.chunk",`
    this.rawChunks = rawChunks
  }

  /** TensorZero's chunk ahead of the deltas: `tensorzero_raw_response` entries of the model calls made before the streamed one. */
  rawResponses (entries: RawResponseEntry[]): string {
    const delta = this.sentRole ? '{}' : '{"role":"assistant"}'
    this.sentRole = true
    return `data: ${this.head}"choices":[{"index":0,"finish_reason":null,"logprobs":null,"delta":${delta}}],"usage":null,"tensorzero_raw_response":${JSON.stringify(entries)}}\n\n`
  }

  /**
   * A content chunk, or '' when the delta carries nothing to show (usage/finish only: those go in the final chunk). A
   * delta with a raw chunk the client asked for is always sent, as TensorZero sends it, with whatever content it has.
   */
  delta (d: StreamDelta): string {
    const delta: Record<string, unknown> = {}
    if (!this.sentRole) { delta.role = 'assistant'; this.sentRole = true }
    if (d.text !== undefined && d.text !== '') delta.content = d.text
    if (d.toolCalls !== undefined && d.toolCalls.length > 0) {
      this.sawToolCalls = true
      delta.tool_calls = d.toolCalls.map(t => {
        const call: Record<string, unknown> = { index: t.index }
        if (t.id !== undefined) call.id = t.id
        const fn: Record<string, unknown> = {}
        if (t.name !== undefined) fn.name = t.name
        if (t.arguments !== undefined) fn.arguments = t.arguments
        call.type = 'function'
        call.function = fn
        return call
      })
    }
    const raw = d.raw === undefined || d.raw === '' ? '' : this.rawChunkFields(d.raw)
    if (delta.content === undefined && delta.tool_calls === undefined && delta.role === undefined && raw === '') return ''
    return `data: ${this.head}"choices":[{"index":0,"finish_reason":null,"logprobs":null,"delta":${JSON.stringify(delta)}}],"usage":null${raw}}\n\n`
  }

  private rawChunkFields (raw: string): string {
    const text = JSON.stringify(raw)
    return (this.rawChunks.original === true ? `,"tensorzero_original_chunk":${text}` : '') +
      (this.rawChunks.response === true ? `,"tensorzero_raw_chunk":${text}` : '')
  }

  /** The closing chunk: finish_reason, usage only when the client asked for it, and `extra` fields (raw usage). */
  final (finishReason: FinishReason | undefined, usage: Usage | undefined, extra: Record<string, unknown> = {}): string {
    const reason = openAIFinishReason(finishReason, this.sawToolCalls)
    const usagePart = usage === undefined ? 'null' : JSON.stringify(usageBody(usage))
    let extraPart = ''
    for (const [key, value] of Object.entries(extra)) extraPart += `,${JSON.stringify(key)}:${JSON.stringify(value)}`
    return `data: ${this.head}"choices":[{"index":0,"finish_reason":"${reason}","logprobs":null,"delta":{}}],"usage":${usagePart}${extraPart}}\n\n`
  }

  static error (message: string): string {
    return `data: ${JSON.stringify({ error: { message } })}\n\n`
  }

  static readonly DONE = 'data: [DONE]\n\n'
}
