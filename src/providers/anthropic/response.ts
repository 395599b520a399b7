// Anthropic Messages response → ProviderResponse.
import type { FinishReason, OutputBlock, ProviderResponse, Usage } from '../../core/types.ts'
import { ProviderError } from '../../core/errors.ts'
import { excerpt, finishReasonFrom, isObj } from '../http/json.ts'

const STOP_REASONS: ReadonlyMap<unknown, FinishReason> = new Map<unknown, FinishReason>([
  ['end_turn', 'stop'], ['stop_sequence', 'stop_sequence'], ['max_tokens', 'length'], ['tool_use', 'tool_call']
])

/** TensorZero's map: end_turn→stop, stop_sequence→stop_sequence, max_tokens→length, tool_use→tool_call, others→unknown. */
export function mapStopReason (r: unknown): FinishReason | undefined {
  return finishReasonFrom(STOP_REASONS, r)
}

/** `input_tokens` / `output_tokens` only: cache creation/read tokens are not added (TensorZero ignores them too). */
/** Anthropic counts cached input apart; TensorZero's input tokens are all three together. */
export function parseAnthropicUsage (u: unknown): Usage | undefined {
  if (!isObj(u)) return undefined
  const usage: Usage = {}
  const input = count(u.input_tokens)
  const written = count(u.cache_creation_input_tokens)
  const read = count(u.cache_read_input_tokens)
  if (input !== undefined || written !== undefined || read !== undefined) usage.inputTokens = (input ?? 0) + (written ?? 0) + (read ?? 0)
  const output = count(u.output_tokens)
  if (output !== undefined) usage.outputTokens = output
  if (read !== undefined) usage.cacheReadInputTokens = read
  if (written !== undefined) usage.cacheWriteInputTokens = written
  return usage
}

function count (v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

/** `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}` → `overloaded_error: Overloaded`. */
export function anthropicErrorReason (v: unknown): string | undefined {
  if (!isObj(v)) return undefined
  const e = isObj(v.error) ? v.error : v
  const type = typeof e.type === 'string' && e.type !== 'error' ? e.type : undefined
  const message = typeof e.message === 'string' ? e.message : undefined
  if (type === undefined && message === undefined) return undefined
  return type !== undefined && message !== undefined ? `${type}: ${message}` : (message ?? type)
}

/** One content block of a response (or a content_block_start) → output block; undefined for blocks we do not keep. */
function outputBlock (b: unknown): OutputBlock | undefined {
  if (!isObj(b)) return undefined
  switch (b.type) {
    case 'text': return typeof b.text === 'string' ? { type: 'text', text: b.text } : undefined
    case 'tool_use':
      return {
        type: 'tool_call',
        id: typeof b.id === 'string' ? b.id : '',
        name: typeof b.name === 'string' ? b.name : '',
        arguments: JSON.stringify(b.input ?? {})
      }
    case 'thinking': return typeof b.thinking === 'string' ? { type: 'thought', text: b.thinking } : undefined
    // redacted_thinking carries only an encrypted signature; server tool blocks and other unknown types are dropped.
    default: return undefined
  }
}

/** TensorZero's `prefill_json_response`: a single text block gets the prefilled `{` back (text trimmed). */
function unprefill (output: OutputBlock[]): OutputBlock[] {
  if (output.length === 1 && output[0].type === 'text') return [{ type: 'text', text: `{${output[0].text.trim()}` }]
  return output
}

export function parseAnthropicResponse (body: string, prefilled: boolean): ProviderResponse {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    throw new ProviderError(`anthropic: response body is not valid JSON: ${excerpt(body)}`, 'bad_response', { rawResponse: body })
  }
  if (!isObj(json)) throw new ProviderError('anthropic: response body is not a JSON object', 'bad_response', { rawResponse: body })
  if (json.type === 'error') {
    throw new ProviderError(`anthropic: error in response body: ${anthropicErrorReason(json) ?? excerpt(body)}`, 'server', { rawResponse: body })
  }
  if (!Array.isArray(json.content)) throw new ProviderError('anthropic: response has no content', 'bad_response', { rawResponse: body })
  let output: OutputBlock[] = []
  for (const b of json.content) {
    const o = outputBlock(b)
    if (o !== undefined) output.push(o)
  }
  if (prefilled) output = unprefill(output)
  const res: ProviderResponse = { output, usage: parseAnthropicUsage(json.usage) ?? {}, rawResponse: body }
  const fr = mapStopReason(json.stop_reason)
  if (fr !== undefined) res.finishReason = fr
  return res
}
