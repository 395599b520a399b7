// JSON functions (`type = "json"`): the implicit `respond` tool for json_mode `tool`, and the output TensorZero
// returns and stores: `content` is the model's raw text (the tool call's arguments in tool mode), and the stored
// output is `{raw, parsed}` with `parsed` null when the text is not JSON or does not satisfy the output schema.
import type { OutputBlock, StreamDelta, ToolParams, FinishReason, ModelRequest } from '../core/types.ts'
import { matchesSchema } from '../core/json-schema.ts'

export const IMPLICIT_TOOL_NAME = 'respond'
export const IMPLICIT_TOOL_DESCRIPTION = 'Respond to the user using the output schema provided.'

/** json_mode `tool`: one tool carrying the output schema, and the model forced to call it. */
export function implicitToolParams (outputSchema: Record<string, unknown> | undefined): ToolParams {
  return {
    tools: [{ name: IMPLICIT_TOOL_NAME, description: IMPLICIT_TOOL_DESCRIPTION, parameters: outputSchema ?? {}, strict: false }],
    toolChoice: { specific: IMPLICIT_TOOL_NAME },
    implicit: true
  }
}

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
