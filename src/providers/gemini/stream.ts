// One Gemini `streamGenerateContent?alt=sse` event → StreamDelta. Every event is a whole GenerateContentResponse;
// a function call arrives complete in one part, so each one becomes a new tool call (index 0, 1, … per stream).
import { v7 as uuidv7 } from 'uuid'
import type { StreamDelta } from '../../core/types.ts'
import type { SseEvent } from '../adapter.ts'
import { isObj } from '../http/json.ts'
import { candidateParts, firstCandidate, mapGeminiFinishReason, parseGeminiJson, parseGeminiUsage } from './response.ts'

/** Gemini has no call indexes: the stream numbers its function calls itself. */
export interface GeminiStreamState { nextTool: number }

/**
 * Returns a (possibly empty) delta per event; the stream ends at EOF (Gemini sends no `[DONE]`, which is still
 * honoured if a proxy adds one). Gemini repeats the running usage in every event: as TensorZero does, usage is only
 * taken from the event that carries the finish reason. An error object throws ProviderError('server').
 */
export function parseGeminiStreamEvent (event: SseEvent, state: GeminiStreamState): StreamDelta | null {
  const data = event.data
  if (data.trim() === '[DONE]') return null
  const json = parseGeminiJson(data, 'stream event')
  const c = firstCandidate(json, data)
  const delta: StreamDelta = {}
  let text = ''
  let thought = ''
  const calls: NonNullable<StreamDelta['toolCalls']> = []
  for (const p of candidateParts(c)) {
    if (p.thought === true) {
      if (typeof p.text === 'string') thought += p.text
    } else if (typeof p.text === 'string') {
      text += p.text
    } else if (isObj(p.functionCall)) {
      const index = state.nextTool++
      const fc = p.functionCall
      calls.push({ index, id: uuidv7(), name: typeof fc.name === 'string' ? fc.name : '', arguments: JSON.stringify(fc.args ?? {}) })
    }
  }
  if (text !== '') delta.text = text
  if (thought !== '') delta.thought = thought
  if (calls.length > 0) delta.toolCalls = calls
  const fr = mapGeminiFinishReason(c.finishReason)
  if (fr !== undefined) {
    delta.finishReason = fr
    const usage = parseGeminiUsage(json.usageMetadata)
    if (usage !== undefined) delta.usage = usage
  }
  return delta
}
