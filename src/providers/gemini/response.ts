// Gemini GenerateContentResponse → ProviderResponse (non-streaming), and the pieces the stream parser shares.
import { v7 as uuidv7 } from 'uuid'
import type { FinishReason, OutputBlock, ProviderResponse, Usage } from '../../core/types.ts'
import { ProviderError } from '../../core/errors.ts'
import { excerpt, finishReasonFrom, isObj, usageFrom } from '../http/json.ts'

/**
 * TensorZero's map: STOP→stop, MAX_TOKENS→length, SAFETY/BLOCKLIST/PROHIBITED_CONTENT/SPII→content_filter,
 * MALFORMED_FUNCTION_CALL→tool_call, OTHER/unspecified/unknown→unknown. RECITATION→content_filter here (TensorZero maps it
 * to tool_call, which reads as a slip: recitation is a content block).
 */
const FINISH_REASONS: ReadonlyMap<unknown, FinishReason> = new Map([
  ['STOP', 'stop'], ['MAX_TOKENS', 'length'],
  ...['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY'].map((r): [string, FinishReason] => [r, 'content_filter']),
  ['MALFORMED_FUNCTION_CALL', 'tool_call']
])

export function mapGeminiFinishReason (r: unknown): FinishReason | undefined {
  return finishReasonFrom(FINISH_REASONS, r)
}

/** `usageMetadata` → Usage: promptTokenCount in, candidatesTokenCount out (thought tokens not added, as in TensorZero). */
export function parseGeminiUsage (u: unknown): Usage | undefined {
  const usage = usageFrom(u, 'promptTokenCount', 'candidatesTokenCount')
  if (usage !== undefined && isObj(u) && typeof u.cachedContentTokenCount === 'number') usage.cacheReadInputTokens = u.cachedContentTokenCount
  return usage
}

/** `{"error":{"code":429,"message":"…","status":"RESOURCE_EXHAUSTED"}}` → `RESOURCE_EXHAUSTED: …`. */
export function geminiErrorReason (v: unknown): string | undefined {
  if (!isObj(v)) return undefined
  const e = isObj(v.error) ? v.error : undefined
  if (e === undefined) return typeof v.error === 'string' ? v.error : undefined
  const status = typeof e.status === 'string' ? e.status : undefined
  const message = typeof e.message === 'string' ? e.message : undefined
  if (status === undefined && message === undefined) return undefined
  return status !== undefined && message !== undefined ? `${status}: ${message}` : (message ?? status)
}

/** The first candidate (TensorZero uses only that one); a response without candidates fails like TensorZero's. */
export function firstCandidate (json: Record<string, unknown>, raw: string): Record<string, unknown> {
  const c = Array.isArray(json.candidates) ? json.candidates[0] : undefined
  if (isObj(c)) return c
  const fb = isObj(json.promptFeedback) ? json.promptFeedback : undefined
  const why = fb !== undefined && typeof fb.blockReason === 'string' ? ` (prompt blocked: ${fb.blockReason})` : ''
  throw new ProviderError(`google_ai_studio_gemini: Google AI Studio Gemini response has no candidates${why}`, 'bad_response', { rawResponse: raw })
}

export function candidateParts (c: Record<string, unknown>): Array<Record<string, unknown>> {
  const content = isObj(c.content) ? c.content : undefined
  return content !== undefined && Array.isArray(content.parts) ? content.parts.filter(isObj) : []
}

/**
 * One part → output block: `thought: true` text → thought; text → text; functionCall → tool call with a generated
 * UUIDv7 id (Gemini has no call ids; TensorZero generates them the same way). Signature-only parts, inline data,
 * code execution and unknown parts are dropped.
 */
function partOutput (p: Record<string, unknown>): OutputBlock | undefined {
  if (p.thought === true) return typeof p.text === 'string' ? { type: 'thought', text: p.text } : undefined
  if (typeof p.text === 'string') return { type: 'text', text: p.text }
  if (isObj(p.functionCall)) {
    const fc = p.functionCall
    return { type: 'tool_call', id: uuidv7(), name: typeof fc.name === 'string' ? fc.name : '', arguments: JSON.stringify(fc.args ?? {}) }
  }
  return undefined
}

export function parseGeminiJson (body: string, what: string): Record<string, unknown> {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    throw new ProviderError(`google_ai_studio_gemini: ${what} is not valid JSON: ${excerpt(body)}`, 'bad_response', { rawResponse: body })
  }
  if (!isObj(json)) throw new ProviderError(`google_ai_studio_gemini: ${what} is not a JSON object: ${excerpt(body)}`, 'bad_response', { rawResponse: body })
  if (json.error !== undefined && json.candidates === undefined) {
    throw new ProviderError(`google_ai_studio_gemini: error in ${what}: ${geminiErrorReason(json) ?? excerpt(body)}`, 'server', { rawResponse: body })
  }
  return json
}

export function parseGeminiResponse (body: string): ProviderResponse {
  const json = parseGeminiJson(body, 'response body')
  const c = firstCandidate(json, body)
  const output: OutputBlock[] = []
  for (const p of candidateParts(c)) {
    const o = partOutput(p)
    if (o !== undefined) output.push(o)
  }
  const res: ProviderResponse = { output, usage: parseGeminiUsage(json.usageMetadata) ?? {}, rawResponse: body }
  const fr = mapGeminiFinishReason(c.finishReason)
  if (fr !== undefined) res.finishReason = fr
  return res
}
