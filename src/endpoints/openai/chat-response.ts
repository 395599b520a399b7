// Internal results → OpenAI chat completion bodies and stream chunks, shaped as TensorZero's OpenAI-compatible
// endpoint answers (its ids, `model` string and extra fields), so clients written against it read ours unchanged.
import type { OutputBlock, FinishReason, StreamDelta, Usage } from '../../core/types.ts'
import type { CompletedInference, InferenceMeta } from '../../function/run.ts'
import { chunkRawUsageEntry, rawFields, type HeadChunk, type RawFields } from './raw-entries.ts'

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
    ...rawFields(result.modelInferences, raw, result.failedVariantRawResponses),
    ...(raw.original === true && result.rawResponse !== undefined ? { tensorzero_original_response: result.rawResponse } : {})
  }
}

/**
 * What a stream's chunks carry beyond content: a provider event's raw text in `tensorzero_raw_chunk`
 * (`tensorzero::include_raw_response`) and the deprecated `tensorzero_original_chunk`
 * (`tensorzero::include_original_response`), a call's usage object in `tensorzero_raw_usage`
 * (`tensorzero::include_raw_usage`), as TensorZero names them. `json`: a JSON function's chunks always have a
 * `content` string (empty when a chunk has none), as TensorZero's do.
 */
export interface ChunkFields { response?: boolean; original?: boolean; usage?: boolean; json?: boolean }

/** Serialises the chunks of one stream; the envelope fields are the same on every chunk. */
export class ChunkWriter {
  private readonly head: string
  private readonly fields: ChunkFields
  private sentRole = false
  private sawToolCalls = false

  constructor (meta: InferenceMeta, fields: ChunkFields = {}, created = Math.floor(Date.now() / 1000)) {
    // The fixed envelope is serialised once per stream, not once per chunk.
    this.head = `{"id":${JSON.stringify(meta.inferenceId)},"episode_id":${JSON.stringify(meta.episodeId)},"created":${created},` +
      `"model":${JSON.stringify(meta.responseModel)},"system_fingerprint":"","service_tier":null,"object":"chat.completion.chunk",`
    this.fields = fields
  }

  /**
   * One of TensorZero's chunks ahead of the deltas, with no content: `tensorzero_raw_response` entries (failed attempts,
   * the model calls made before the streamed one) or `tensorzero_raw_usage` entries (those earlier calls' usage).
   */
  headChunk (chunk: HeadChunk): string {
    const role = this.sentRole ? '' : '"role":"assistant"'
    this.sentRole = true
    const content = this.fields.json === true ? `${role === '' ? '' : ','}"content":""` : ''
    return `data: ${this.head}"choices":[{"index":0,"finish_reason":null,"logprobs":null,"delta":{${role}${content}}}],"usage":null,"tensorzero_${chunk.field}":${JSON.stringify(chunk.entries)}}\n\n`
  }

  /**
   * A content chunk, or '' when the delta carries nothing to show (usage/finish only: those go in the final chunk). A
   * delta with a raw chunk the client asked for is always sent, as TensorZero sends it, with whatever content it has.
   */
  delta (d: StreamDelta): string {
    const delta: Record<string, unknown> = {}
    if (!this.sentRole) { delta.role = 'assistant'; this.sentRole = true }
    if (d.text !== undefined && d.text !== '') delta.content = d.text
    else if (this.fields.json === true) delta.content = ''
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
    let raw = d.raw === undefined || d.raw === '' ? '' : this.rawChunkFields(d.raw)
    if (d.rawUsage !== undefined && this.fields.usage === true) raw = `,"tensorzero_raw_usage":${JSON.stringify([chunkRawUsageEntry(d.rawUsage)])}${raw}`
    if ((delta.content === undefined || delta.content === '') && delta.tool_calls === undefined && delta.role === undefined && raw === '') return ''
    return `data: ${this.head}"choices":[{"index":0,"finish_reason":null,"logprobs":null,"delta":${JSON.stringify(delta)}}],"usage":null${raw}}\n\n`
  }

  private rawChunkFields (raw: string): string {
    const text = JSON.stringify(raw)
    return (this.fields.original === true ? `,"tensorzero_original_chunk":${text}` : '') +
      (this.fields.response === true ? `,"tensorzero_raw_chunk":${text}` : '')
  }

  /** The closing chunk: finish_reason, and usage only when the client asked for it (raw usage came on the provider's chunks). */
  final (finishReason: FinishReason | undefined, usage: Usage | undefined): string {
    const reason = openAIFinishReason(finishReason, this.sawToolCalls)
    const usagePart = usage === undefined ? 'null' : JSON.stringify(usageBody(usage))
    const delta = this.fields.json === true ? '{"content":""}' : '{}'
    return `data: ${this.head}"choices":[{"index":0,"finish_reason":"${reason}","logprobs":null,"delta":${delta}}],"usage":${usagePart}}\n\n`
  }

  /** `rawChunk` (`include_raw_response`): the provider's raw text of a mid-stream failure, as `tensorzero_raw_chunk`. */
  static error (message: string, rawChunk?: string): string {
    return `data: ${JSON.stringify(rawChunk === undefined ? { error: { message } } : { error: { message }, tensorzero_raw_chunk: rawChunk })}\n\n`
  }

  static readonly DONE = 'data: [DONE]\n\n'
}
