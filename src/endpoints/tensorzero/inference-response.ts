// Internal results → TensorZero's native `/inference` answers: the chat and JSON response bodies, the stream chunks
// (content deltas without usage or finish reason, then one closing chunk carrying both), and its error bodies
// (`{"error": "…"}`, not the OpenAI-compatible routes' `{"error": {"message": …}}`).
import type { FinishReason, OutputBlock, StreamDelta, Usage } from '../../core/types.ts'
import type { GatewayError } from '../../core/errors.ts'
import type { CompletedInference, InferenceMeta } from '../../function/run.ts'
import { checkedToolCall } from '../../function/tools.ts'
import { jsonOutputRecord, rawJsonText } from '../../function/json-output.ts'
import { rawResponseEntries, rawUsageEntries, type RawResponseEntry, type RawUsageEntry } from '../openai/raw-entries.ts'

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
    case 'tool_call': return checkedToolCall(block, meta.toolParams?.tools)
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
  if (raw.response) body.raw_response = rawResponseEntries(result.modelInferences ?? [])
  if (result.finishReason !== undefined) body.finish_reason = result.finishReason
  return body
}

export function nativeErrorBody (err: GatewayError): { error: string } {
  return { error: err.message }
}

/** Serialises the chunks of one native stream; the envelope is the same on every chunk. */
export class NativeChunkWriter {
  private readonly head: string
  private readonly json: boolean
  /** Which fields carry a provider event's raw text: `raw_chunk` (`include_raw_response`), `original_chunk` (`include_original_response`). */
  private readonly rawChunks: { response: boolean; original: boolean }
  /** Tool call ids by stream index: providers send the id once, TensorZero repeats it on every piece. */
  private readonly toolCallIds = new Map<number, string>()

  constructor (meta: InferenceMeta, functionType: 'chat' | 'json', rawChunks = { response: false, original: false }) {
    this.head = `{"inference_id":${JSON.stringify(meta.inferenceId)},"episode_id":${JSON.stringify(meta.episodeId)},"variant_name":${JSON.stringify(meta.variantName)},`
    this.json = functionType === 'json'
    this.rawChunks = rawChunks
  }

  /** TensorZero's chunk ahead of the deltas: `raw_response` entries of the model calls made before the streamed one. */
  rawResponses (entries: RawResponseEntry[]): string {
    return `data: ${this.head}${this.json ? '"raw":""' : '"content":[]'},"raw_response":${JSON.stringify(entries)}}\n\n`
  }

  /**
   * A content chunk, or '' when the delta holds nothing to show (usage and finish reason go in the closing chunk). A
   * delta with a raw chunk the client asked for is always sent, as TensorZero sends it, with whatever content it has.
   */
  delta (d: StreamDelta): string {
    const raw = d.raw === undefined || d.raw === '' ? '' : this.rawChunkFields(d.raw)
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

  /** The closing chunk: no content, the summed usage and the finish reason. */
  /** `rawUsage`: TensorZero's `raw_usage` entries, sent in the closing chunk when the request asked for them. */
  final (finishReason: FinishReason | undefined, usage: Usage, rawUsage?: RawUsageEntry[]): string {
    const reason = finishReason === undefined ? '' : `,"finish_reason":${JSON.stringify(finishReason)}`
    const raw = rawUsage === undefined ? '' : `,"raw_usage":${JSON.stringify(rawUsage)}`
    return `data: ${this.head}${this.json ? '"raw":""' : '"content":[]'},"usage":${JSON.stringify(usageBody(usage))}${raw}${reason}}\n\n`
  }

  /**
   * After the first chunk the status line is gone: a failure is an event of its own, in TensorZero's error shape, and
   * the stream still closes with `[DONE]`, as TensorZero's does.
   */
  error (message: string): string {
    return `data: ${JSON.stringify({ error: message })}\n\n${this.done}`
  }

  readonly done = 'data: [DONE]\n\n'
}
