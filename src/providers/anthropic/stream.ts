// One Anthropic Messages SSE event → StreamDelta. The stream's state maps content-block indexes to tool call
// indexes (0, 1, … in order of appearance) and remembers whether the JSON prefill `{` is still owed.
import type { StreamDelta, Usage } from '../../core/types.ts'
import { NO_CHUNK, type SseEvent } from '../adapter.ts'
import { ProviderError } from '../../core/errors.ts'
import { excerpt, isObj } from '../http/json.ts'
import { anthropicErrorReason, mapStopReason, parseAnthropicUsage } from './response.ts'

export interface AnthropicStreamState {
  /** content_block index → tool call index */
  tools: Map<number, number>
  nextTool: number
  /** The first delta still has to carry the prefilled `{`. */
  prefillPending: boolean
}

export function newAnthropicStreamState (prefilled: boolean): AnthropicStreamState {
  return { tools: new Map(), nextTool: 0, prefillPending: prefilled }
}

function blockIndex (json: Record<string, unknown>): number {
  return typeof json.index === 'number' ? json.index : 0
}

/**
 * Returns null at `message_stop`, `NO_CHUNK` for `ping`, `content_block_stop`, a `message_start` without usage and
 * unknown event types (TensorZero makes no chunk of them), a (possibly empty) delta for every other event.
 * `message_start` carries the input token count, `message_delta` the final output count (and stop reason); the
 * collector keeps the largest figures.
 * An `error` event throws ProviderError('server'); malformed JSON throws ProviderError('bad_response').
 */
export function parseAnthropicStreamEvent (event: SseEvent, s: AnthropicStreamState): StreamDelta | null {
  const data = event.data
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch {
    if (event.event === 'error') throw new ProviderError(`anthropic: error in stream: ${excerpt(data)}`, 'server', { rawResponse: data })
    throw new ProviderError(`anthropic: malformed stream event: ${excerpt(data)}`, 'bad_response', { rawResponse: data })
  }
  if (!isObj(json)) throw new ProviderError(`anthropic: stream event is not a JSON object: ${excerpt(data)}`, 'bad_response', { rawResponse: data })
  const type = typeof json.type === 'string' ? json.type : event.event
  const delta: StreamDelta = {}
  switch (type) {
    case 'message_stop':
      return null
    case 'error':
      throw new ProviderError(`anthropic: error in stream: ${anthropicErrorReason(json) ?? excerpt(data)}`, 'server', { rawResponse: data })
    case 'message_start': {
      const usage = isObj(json.message) ? parseAnthropicUsage(json.message.usage) : undefined
      // Without usage TensorZero makes no chunk of it.
      if (usage === undefined) return NO_CHUNK
      delta.usage = usage
      break
    }
    case 'content_block_start': {
      const b = json.content_block
      if (!isObj(b)) break
      if (b.type === 'text' && typeof b.text === 'string' && b.text !== '') delta.text = b.text
      else if (b.type === 'thinking' && typeof b.thinking === 'string' && b.thinking !== '') delta.thought = b.thinking
      else if (b.type === 'tool_use') {
        const index = s.nextTool++
        s.tools.set(blockIndex(json), index)
        // The block's `input` is always `{}` here; the arguments follow as input_json_delta pieces.
        delta.toolCalls = [{ index, id: typeof b.id === 'string' ? b.id : '', name: typeof b.name === 'string' ? b.name : '' }]
      }
      break
    }
    case 'content_block_delta': {
      const d = json.delta
      if (!isObj(d)) break
      if (d.type === 'text_delta' && typeof d.text === 'string') {
        if (d.text !== '') delta.text = d.text
      } else if (d.type === 'thinking_delta' && typeof d.thinking === 'string') {
        if (d.thinking !== '') delta.thought = d.thinking
      } else if (d.type === 'input_json_delta' && typeof d.partial_json === 'string') {
        const index = s.tools.get(blockIndex(json))
        if (index === undefined) {
          throw new ProviderError('anthropic: Got InputJsonDelta chunk from Anthropic without current tool id being set by a ToolUse', 'bad_response', { rawResponse: data })
        }
        if (d.partial_json !== '') delta.toolCalls = [{ index, arguments: d.partial_json }]
      }
      // signature_delta and unknown delta types carry nothing we keep.
      break
    }
    case 'message_delta': {
      const d = isObj(json.delta) ? json.delta : {}
      const fr = mapStopReason(d.stop_reason)
      if (fr !== undefined) delta.finishReason = fr
      const u = isObj(json.usage) ? json.usage : undefined
      if (u !== undefined) {
        // Newer API versions repeat the (cumulative) input counts here; older ones send output_tokens only.
        const usage = parseAnthropicUsage(u) as Usage
        if (usage.inputTokens === 0) delete usage.inputTokens
        delta.usage = usage
      }
      break
    }
    default: // ping, content_block_stop, unknown event types
      return NO_CHUNK
  }
  if (s.prefillPending) {
    // TensorZero's `prefill_json_chunk_response`: the first chunk gets the prefilled `{` (leading whitespace trimmed).
    s.prefillPending = false
    delta.text = delta.text === undefined ? '{' : `{${delta.text.trimStart()}`
  }
  return delta
}
