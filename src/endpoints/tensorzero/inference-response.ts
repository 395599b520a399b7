// Internal results → TensorZero's native `/inference` answers: the chat and JSON response bodies, the stream chunks
// (content deltas without usage or finish reason, then one closing chunk carrying both), and its error bodies
// (`{"error": "…"}`, not the OpenAI-compatible routes' `{"error": {"message": …}}`).
import type { FinishReason, OutputBlock, StreamDelta, Usage } from '../../core/types.ts'
import type { GatewayError } from '../../core/errors.ts'
import type { CompletedInference, InferenceMeta } from '../../function/run.ts'
import { checkedToolCall, toolsAvailable } from '../../function/tools.ts'
import { jsonOutputRecord, rawJsonText } from '../../function/json-output.ts'
import { chunkRawUsageEntry, failedRawEntries, rawResponseEntries, rawUsageEntries, type HeadChunk } from '../openai/raw-entries.ts'

interface UsageBody {
  input_tokens: number | null
  output_tokens: number | null
  provider_cache_read_input_tokens?: number
  provider_cache_write_input_tokens?: number
  cost: number | null
}

/** TensorZero's Usage: token counts (null when the provider gave none), cache counts when reported, and the cost. */
function usageBody (usage: Usage): UsageBody {
  const body: UsageBody = { input_tokens: usage.inputTokens ?? null, output_tokens: usage.outputTokens ?? null, cost: usage.cost ?? null }
  if (usage.cacheReadInputTokens !== undefined) body.provider_cache_read_input_tokens = usage.cacheReadInputTokens
  if (usage.cacheWriteInputTokens !== undefined) body.provider_cache_write_input_tokens = usage.cacheWriteInputTokens
  return body
}

function contentBlock (block: OutputBlock, meta: InferenceMeta): Record<string, unknown> {
  switch (block.type) {
    case 'text': return { type: 'text', text: block.text }
    case 'thought': return { type: 'thought', text: block.text }
    case 'tool_call': return checkedToolCall(block, toolsAvailable(meta.toolParams))
  }
}

export function inferenceBody (result: CompletedInference, includeOriginalResponse: boolean, functionType: 'chat' | 'json',
  raw: { usage: boolean; response: boolean } = { usage: false, response: false }): Record<string, unknown> {
  const body: Record<string, unknown> = { inference_id: result.inferenceId, episode_id: result.episodeId, variant_name: result.variantName }
  if (functionType === 'json') {
    const raw = rawJsonText(result.output)
    body.output = result.output.some(b => b.type === 'text') ? jsonOutputRecord(raw, result.outputSchema) : { raw: null, parsed: null }
  } else {
    body.content = result.output.map(b => contentBlock(b, result))
  }
  body.usage = usageBody(result.usage)
  if (raw.usage) body.raw_usage = rawUsageEntries(result.modelInferences ?? [])
  if (includeOriginalResponse) body.original_response = result.rawResponse
  if (raw.response) body.raw_response = rawResponseEntries(result.modelInferences ?? [], result.failedVariantRawResponses)
  if (result.finishReason !== undefined) body.finish_reason = result.finishReason
  return body
}

/** `raw_response`: the failed attempts' raw answers, when the request asked for them and any had a body. */
export function nativeErrorBody (err: GatewayError): { error: string; raw_response?: unknown[] } {
  return err.failedRawResponses === undefined ? { error: err.message } : { error: err.message, raw_response: failedRawEntries(err.failedRawResponses) }
}

/** Serialises the chunks of one native stream; the envelope is the same on every chunk. */
export class NativeChunkWriter {
  private readonly head: string
  private readonly json: boolean
  /**
   * Which fields chunks carry: a provider event's raw text in `raw_chunk` (`include_raw_response`) and
   * `original_chunk` (`include_original_response`), a call's usage object in `raw_usage` (`include_raw_usage`).
   */
  private readonly rawChunks: { response: boolean; original: boolean; usage?: boolean }
  /** Tool call ids by stream index: providers send the id once, TensorZero repeats it on every piece. */
  private readonly toolCallIds = new Map<number, string>()

  constructor (meta: InferenceMeta, functionType: 'chat' | 'json', rawChunks: { response: boolean; original: boolean; usage?: boolean } = { response: false, original: false }) {
    this.head = `{"inference_id":${JSON.stringify(meta.inferenceId)},"episode_id":${JSON.stringify(meta.episodeId)},"variant_name":${JSON.stringify(meta.variantName)},`
    this.json = functionType === 'json'
    this.rawChunks = rawChunks
  }

  /** One of TensorZero's chunks ahead of the deltas, with no content: `raw_response` or `raw_usage` entries. */
  headChunk (chunk: HeadChunk): string {
    return `data: ${this.head}${this.json ? '"raw":""' : '"content":[]'},"${chunk.field}":${JSON.stringify(chunk.entries)}}\n\n`
  }

  /**
   * A content chunk, or '' when the delta holds nothing to show (usage and finish reason go in the closing chunk). A
   * delta with a raw chunk the client asked for is always sent, as TensorZero sends it, with whatever content it has.
   */
  delta (d: StreamDelta): string {
    let raw = d.raw === undefined || d.raw === '' ? '' : this.rawChunkFields(d.raw)
    if (d.rawUsage !== undefined && this.rawChunks.usage === true) raw = `,"raw_usage":${JSON.stringify([chunkRawUsageEntry(d.rawUsage)])}${raw}`
    if (this.json) {
      const text = d.text ?? ''
      return text === '' && raw === '' ? '' : `data: ${this.head}"raw":${JSON.stringify(text)}${raw}}\n\n`
    }
    const content = this.contentOf(d)
    if (content.length === 0 && raw === '') return ''
    return `data: ${this.head}"content":${JSON.stringify(content)}${raw}}\n\n`
  }

  private rawChunkFields (raw: string): string {
    const text = JSON.stringify(raw)
    return (this.rawChunks.original ? `,"original_chunk":${text}` : '') + (this.rawChunks.response ? `,"raw_chunk":${text}` : '')
  }

  private contentOf (d: StreamDelta): Array<Record<string, unknown>> {
    const content: Array<Record<string, unknown>> = []
    if (d.thought !== undefined && d.thought !== '') {
      content.push({ type: 'thought', id: '0', text: d.thought, signature: null, summary_id: null, summary_text: null })
    }
    if (d.text !== undefined && d.text !== '') content.push({ type: 'text', id: '0', text: d.text })
    for (const call of d.toolCalls ?? []) {
      if (call.id !== undefined) this.toolCallIds.set(call.index, call.id)
      content.push({ type: 'tool_call', id: this.toolCallIds.get(call.index) ?? String(call.index), raw_name: call.name ?? '', raw_arguments: call.arguments ?? '' })
    }
    return content
  }

  /** The closing chunk: no content, the summed usage and the finish reason (raw usage came on the provider's chunks). */
  final (finishReason: FinishReason | undefined, usage: Usage): string {
    const reason = finishReason === undefined ? '' : `,"finish_reason":${JSON.stringify(finishReason)}`
    return `data: ${this.head}${this.json ? '"raw":""' : '"content":[]'},"usage":${JSON.stringify(usageBody(usage))}${reason}}\n\n`
  }

  /**
   * After the first chunk the status line is gone: a failure is an event of its own, in TensorZero's error shape, and
   * the stream still closes with `[DONE]`, as TensorZero's does.
   */
  error (message: string, rawChunk?: string): string {
    return `data: ${JSON.stringify(rawChunk === undefined ? { error: message } : { error: message, raw_chunk: rawChunk })}\n\n${this.done}`
  }

  readonly done = 'data: [DONE]\n\n'
}
