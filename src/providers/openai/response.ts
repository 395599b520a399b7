// OpenAI Chat Completions response → ProviderResponse.
import type { FinishReason, OutputBlock, ProviderResponse, Usage } from '../../core/types.ts'
import { ProviderError } from '../../core/errors.ts'
import { isObj, parseJsonBody, excerpt } from '../http/json.ts'

/** OpenAI finish_reason → internal (TensorZero) finish reason; null/absent → undefined. */
export function mapFinishReason (r: unknown): FinishReason | undefined {
  if (r === null || r === undefined) return undefined
  switch (r) {
    case 'stop': return 'stop'
    case 'length': return 'length'
    case 'tool_calls':
    case 'function_call': return 'tool_call'
    case 'content_filter': return 'content_filter'
    default: return 'unknown'
  }
}

function num (v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

/** `usage` (or Groq's `x_groq.usage`) → Usage; undefined when the object carries no usage. */
export function parseUsage (u: unknown): Usage | undefined {
  if (!isObj(u)) return undefined
  const usage: Usage = {}
  const i = num(u.prompt_tokens)
  const o = num(u.completion_tokens)
  if (i !== undefined) usage.inputTokens = i
  if (o !== undefined) usage.outputTokens = o
  const cached = isObj(u.prompt_tokens_details) ? num(u.prompt_tokens_details.cached_tokens) : undefined
  if (cached !== undefined) usage.cacheReadInputTokens = cached
  return usage
}

/** Tool-call arguments as text (some servers, e.g. older Ollama, send a JSON object). */
export function argumentsText (a: unknown): string {
  if (typeof a === 'string') return a
  if (a === undefined || a === null) return ''
  return JSON.stringify(a)
}

/** Text of a reasoning field: `reasoning_content` (vLLM, DeepSeek, SGLang) or `reasoning` (Ollama, OpenRouter). */
export function reasoningText (m: Record<string, unknown>): string | undefined {
  const r = m.reasoning_content ?? m.reasoning
  return typeof r === 'string' && r !== '' ? r : undefined
}

/** Extract `error.message` (or `message` / `detail` / a string `error`) from a parsed error object. */
export function errorMessageOf (v: unknown): string | undefined {
  if (!isObj(v)) return undefined
  const e = v.error
  if (typeof e === 'string') return e
  if (isObj(e) && typeof e.message === 'string') return e.message
  if (typeof v.message === 'string') return v.message
  if (typeof v.detail === 'string') return v.detail
  return undefined
}

export function parseChatResponse (body: string, type: string): ProviderResponse {
  const json = parseJsonBody(body, type, 'response body')
  if (!isObj(json)) throw new ProviderError(`${type}: response body is not a JSON object`, 'bad_response', { rawResponse: body })
  // Some gateways (OpenRouter) answer 200 with an error object.
  if (json.error !== undefined && json.choices === undefined) {
    throw new ProviderError(`${type}: error in response body: ${errorMessageOf(json) ?? excerpt(body)}`, 'server', { rawResponse: body })
  }
  const choices = json.choices
  if (!Array.isArray(choices) || choices.length === 0 || !isObj(choices[0])) {
    throw new ProviderError(`${type}: response has no choices`, 'bad_response', { rawResponse: body })
  }
  const choice = choices[0]
  const message = choice.message
  if (!isObj(message)) throw new ProviderError(`${type}: response choice has no message`, 'bad_response', { rawResponse: body })
  const output: OutputBlock[] = []
  const thought = reasoningText(message)
  if (thought !== undefined) output.push({ type: 'thought', text: thought })
  if (typeof message.content === 'string' && message.content !== '') output.push({ type: 'text', text: message.content })
  if (Array.isArray(message.tool_calls)) {
    message.tool_calls.forEach((tc: unknown, i: number) => {
      if (!isObj(tc)) return
      const fn = isObj(tc.function) ? tc.function : {}
      output.push({
        type: 'tool_call',
        id: typeof tc.id === 'string' && tc.id !== '' ? tc.id : `call_${i}`,
        name: typeof fn.name === 'string' ? fn.name : '',
        arguments: argumentsText(fn.arguments)
      })
    })
  }
  const res: ProviderResponse = { output, usage: parseUsage(json.usage) ?? {}, rawResponse: body }
  const fr = mapFinishReason(choice.finish_reason)
  if (fr !== undefined) res.finishReason = fr
  return res
}
