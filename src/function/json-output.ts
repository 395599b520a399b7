// What a function's type decides about output, for every variant of a request: JSON functions (`type = "json"`) offer
// no tools of their own, answer in json_mode `on` unless told otherwise, and in json_mode `tool` are offered one implicit
// `respond` tool carrying the output schema. Their answer: `content` is the model's raw text (the tool call's arguments
// in tool mode), and the stored output is `{raw, parsed}` with `parsed` null when the text is not JSON or does not
// satisfy the output schema.
import type { OutputBlock, StreamDelta, FinishReason, ModelRequest } from '../core/types.ts'
import type { FunctionConfig, TensorZeroConfig } from '../core/config.ts'
import type { ChatRequest } from '../core/request.ts'
import { implicitToolParams, type FunctionDecisions } from '../variant/chat-completion.ts'
import { matchesSchema } from '../core/json-schema.ts'
import { toolParamsFor } from './tools.ts'

/** What `fn` decides for `req` whichever variant runs it: tools, JSON mode and output schema. Throws the client's 400s. */
export function functionDecisions (config: TensorZeroConfig, fn: FunctionConfig, req: ChatRequest): FunctionDecisions {
  if (fn.type === 'json') {
    const outputSchema = req.dynamicOutputSchema ?? fn.outputSchema?.schema
    return { defaultJsonMode: 'on', outputSchema, jsonModeTool: implicitToolParams(outputSchema ?? EMPTY_SCHEMA) }
  }
  const toolParams = toolParamsFor(config, fn, req)
  // A chat function asked for JSON through `response_format` gets JSON mode from its providers.
  if (req.responseFormat === 'json_schema') return { toolParams, defaultJsonMode: 'strict', outputSchema: req.dynamicOutputSchema }
  if (req.responseFormat === 'json_object') return { toolParams, defaultJsonMode: 'on' }
  return { toolParams }
}

const EMPTY_SCHEMA: Record<string, unknown> = {}

export function isToolMode (req: ModelRequest): boolean {
  return req.toolParams?.implicit === true
}

/**
 * A JSON function's output blocks: in tool mode the first tool call becomes the text (its arguments are the answer);
 * otherwise text and thoughts as the model gave them (stray tool calls dropped).
 */
export function jsonOutputBlocks (output: OutputBlock[], toolMode: boolean): OutputBlock[] {
  const thoughts = output.filter(b => b.type === 'thought')
  const call = toolMode ? output.find(b => b.type === 'tool_call') : undefined
  if (call !== undefined && call.type === 'tool_call') return [...thoughts, { type: 'text', text: call.arguments }]
  return output.filter(b => b.type === 'text' || b.type === 'thought')
}

/** Stream pieces of a JSON function: in tool mode the tool call's argument pieces are the content. */
export function jsonDelta (delta: StreamDelta, toolMode: boolean): StreamDelta {
  if (delta.toolCalls === undefined) return delta
  const { toolCalls, ...rest } = delta
  if (!toolMode) return rest
  const text = toolCalls.filter(t => t.index === toolCalls[0].index).map(t => t.arguments ?? '').join('')
  if (text === '') return rest
  return { ...rest, text: (rest.text ?? '') + text }
}

/** Tool mode answers by a tool call, but a JSON function's client sees a plain answer. */
export function jsonFinishReason (reason: FinishReason | undefined, toolMode: boolean): FinishReason | undefined {
  return toolMode && reason === 'tool_call' ? 'stop' : reason
}

export function rawJsonText (output: OutputBlock[]): string {
  return output.filter(b => b.type === 'text').map(b => (b as { text: string }).text).join('')
}

/** `{raw, parsed}` as stored: parsed is null unless the raw text is JSON that satisfies the schema. */
export function jsonOutputRecord (raw: string, schema: Record<string, unknown> | undefined): { raw: string; parsed: unknown } {
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    return { raw, parsed: null }
  }
  if (schema !== undefined && !matchesSchema(schema, parsed)) return { raw, parsed: null }
  return { raw, parsed }
}
