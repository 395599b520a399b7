// One OpenAI Chat Completions SSE event → StreamDelta.
import type { StreamDelta } from '../../core/types.ts'
import type { SseEvent } from '../adapter.ts'
import { ProviderError } from '../../core/errors.ts'
import { excerpt, isObj } from '../http/json.ts'
import { argumentsText, errorMessageOf, mapFinishReason, parseUsage, reasoningText } from './response.ts'

/**
 * Returns null at `data: [DONE]`, a (possibly empty) delta otherwise. Usage in a delta is the provider's running
 * total for the stream (OpenAI sends it once, in a final chunk with no choices; some servers repeat it): last one wins.
 * Throws ProviderError('server') on an in-stream error object, ProviderError('bad_response') on malformed JSON.
 */
export function parseChatStreamEvent (event: SseEvent, type: string): StreamDelta | null {
  const data = event.data
  if (data === '[DONE]' || data.trim() === '[DONE]') return null
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch {
    if (event.event === 'error') throw new ProviderError(`${type}: error in stream: ${excerpt(data)}`, 'server', { rawResponse: data })
    throw new ProviderError(`${type}: malformed stream chunk: ${excerpt(data)}`, 'bad_response', { rawResponse: data })
  }
  if (!isObj(json)) throw new ProviderError(`${type}: stream chunk is not a JSON object: ${excerpt(data)}`, 'bad_response', { rawResponse: data })
  if (event.event === 'error' || (json.error !== undefined && json.error !== null && json.choices === undefined)) {
    throw new ProviderError(`${type}: error in stream: ${errorMessageOf(json) ?? excerpt(data)}`, 'server', { rawResponse: data })
  }
  const delta: StreamDelta = {}
  const usage = parseUsage(json.usage) ?? (isObj(json.x_groq) ? parseUsage(json.x_groq.usage) : undefined)
  if (usage !== undefined) delta.usage = usage
  const choices = json.choices
  if (Array.isArray(choices) && choices.length > 0 && isObj(choices[0])) {
    const choice = choices[0]
    const d = choice.delta
    if (isObj(d)) {
      if (typeof d.content === 'string' && d.content !== '') delta.text = d.content
      const thought = reasoningText(d)
      if (thought !== undefined) delta.thought = thought
      if (Array.isArray(d.tool_calls) && d.tool_calls.length > 0) {
        const calls: NonNullable<StreamDelta['toolCalls']> = []
        d.tool_calls.forEach((tc: unknown, pos: number) => {
          if (!isObj(tc)) return
          const piece: { index: number; id?: string; name?: string; arguments?: string } = {
            index: typeof tc.index === 'number' ? tc.index : pos
          }
          if (typeof tc.id === 'string' && tc.id !== '') piece.id = tc.id
          const fn = tc.function
          if (isObj(fn)) {
            if (typeof fn.name === 'string' && fn.name !== '') piece.name = fn.name
            if (fn.arguments !== undefined && fn.arguments !== null) {
              const a = argumentsText(fn.arguments)
              if (a !== '') piece.arguments = a
            }
          }
          calls.push(piece)
        })
        if (calls.length > 0) delta.toolCalls = calls
      }
    }
    const fr = mapFinishReason(choice.finish_reason)
    if (fr !== undefined) delta.finishReason = fr
  }
  return delta
}
