// Provider JSON, read defensively (every wire format answers objects whose fields may be missing or mistyped) and
// the pieces of it that several wire formats write the same way.
import type { FinishReason, Usage } from '../../core/types.ts'
import { ProviderError } from '../../core/errors.ts'

export function isObj (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * The provider's own usage object in a raw answer: `usage` (OpenAI-compatible, Anthropic), `usageMetadata` (Gemini),
 * or Anthropic's stream start (`message.usage`). A stream's raw answer is its chunks, one per line: the last one with
 * usage is taken, since providers report it there (or cumulatively).
 */
export function providerUsageObject (rawResponse: string): unknown {
  let found: unknown
  for (const line of rawResponse.split('\n')) {
    const text = line.startsWith('data:') ? line.slice(5).trim() : line.trim()
    if (!text.startsWith('{')) continue
    let body: unknown
    try { body = JSON.parse(text) } catch { continue }
    if (!isObj(body)) continue
    const usage = body.usage ?? body.usageMetadata ?? (isObj(body.message) ? body.message.usage : undefined)
    if (isObj(usage)) found = usage
  }
  return found
}

/** At most `max` characters of a provider's text, for error messages. */
export function excerpt (s: string, max = 500): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`
}

/** `body` parsed as JSON, or a bad_response error naming the provider type and what the body was. */
export function parseJsonBody (body: string, type: string, what: string): unknown {
  try {
    return JSON.parse(body)
  } catch {
    throw new ProviderError(`${type}: ${what} is not valid JSON: ${excerpt(body)}`, 'bad_response', { rawResponse: body })
  }
}

/** A provider's finish reason through its table: absent → undefined, anything the table lacks → `unknown`. */
export function finishReasonFrom (table: ReadonlyMap<unknown, FinishReason>, r: unknown): FinishReason | undefined {
  if (r === null || r === undefined) return undefined
  return table.get(r) ?? 'unknown'
}

/** Tool-call arguments (text, as OpenAI carries them) as the JSON object the native formats want. */
export function toolArgumentsObject (type: string, args: string): unknown {
  let value: unknown
  try {
    value = JSON.parse(args)
  } catch (err) {
    throw new ProviderError(`${type}: Error parsing tool call arguments as JSON Value: ${(err as Error).message}`, 'client')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProviderError(`${type}: Tool call arguments must be a JSON object`, 'client')
  }
  return value
}

/** Token counts from a usage object under the format's own field names; undefined when it is not an object. */
export function usageFrom (u: unknown, inputKey: string, outputKey: string): Usage | undefined {
  if (!isObj(u)) return undefined
  const usage: Usage = {}
  const input = u[inputKey]
  const output = u[outputKey]
  if (typeof input === 'number') usage.inputTokens = input
  if (typeof output === 'number') usage.outputTokens = output
  return usage
}
