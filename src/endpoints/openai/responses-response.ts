// Internal results → Responses API objects: the Response (id, status, output items, usage, the request's echoed
// fields) and its output items (`message` with `output_text`, `function_call`, `reasoning` for the model's thinking).
import type { FinishReason, OutputBlock, Usage } from '../../core/types.ts'
import type { InferenceMeta } from '../../function/run.ts'
import type { ResponseEcho } from './responses-request.ts'
import { itemIdOf, responseIdOf } from './responses-ids.ts'
import type { ItemKind } from './responses-ids.ts'

type Item = Record<string, unknown>
type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed'

export function usageOf (usage: Usage): Record<string, unknown> {
  const input = usage.inputTokens ?? 0
  const output = usage.outputTokens ?? 0
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + output
  }
}

export const outputTextPart = (text: string): Item => ({ type: 'output_text', text, annotations: [], logprobs: [] })
export const summaryPart = (text: string): Item => ({ type: 'summary_text', text })

export function messageItem (id: string, text: string, status: 'in_progress' | 'completed'): Item {
  return { id, type: 'message', status, role: 'assistant', content: status === 'in_progress' ? [] : [outputTextPart(text)] }
}

export function functionCallItem (id: string, callId: string, name: string, args: string, status: 'in_progress' | 'completed'): Item {
  return { id, type: 'function_call', status, call_id: callId, name, arguments: args }
}

export function reasoningItem (id: string, text: string, status: 'in_progress' | 'completed'): Item {
  return { id, type: 'reasoning', summary: status === 'in_progress' ? [] : [summaryPart(text)] }
}

/** One output item per block, its id naming the block (`responses-ids.ts`). */
export function outputItems (inferenceId: string, output: OutputBlock[]): Item[] {
  const counts: Record<ItemKind, number> = { msg: 0, fc: 0, rs: 0 }
  const next = (kind: ItemKind): string => itemIdOf(kind, inferenceId, counts[kind]++)
  return output.map(b => {
    if (b.type === 'text') return messageItem(next('msg'), b.text, 'completed')
    if (b.type === 'tool_call') return functionCallItem(next('fc'), b.id, b.name, b.arguments, 'completed')
    return reasoningItem(next('rs'), b.text, 'completed')
  })
}

/** A response cut short by the output token limit is `incomplete`, as OpenAI reports it; any other end `completed`. */
export function finishedStatus (reason: FinishReason | undefined): { status: ResponseStatus; incomplete_details: unknown } {
  if (reason === 'length') return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } }
  if (reason === 'content_filter') return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } }
  return { status: 'completed', incomplete_details: null }
}

export interface ResponseState {
  status: ResponseStatus
  output: Item[]
  usage: Record<string, unknown> | null
  incomplete_details?: unknown
  error?: { code: string; message: string } | null
}

/** The Response object, field order as OpenAI's. */
export function responseObject (meta: InferenceMeta, echo: ResponseEcho, createdAt: number, state: ResponseState): Record<string, unknown> {
  return {
    id: responseIdOf(meta.inferenceId),
    object: 'response',
    created_at: createdAt,
    status: state.status,
    background: false,
    error: state.error ?? null,
    incomplete_details: state.incomplete_details ?? null,
    instructions: echo.instructions,
    max_output_tokens: echo.max_output_tokens,
    model: meta.responseModel,
    output: state.output,
    parallel_tool_calls: echo.parallel_tool_calls,
    previous_response_id: echo.previous_response_id,
    reasoning: echo.reasoning,
    service_tier: 'default',
    store: echo.store,
    temperature: echo.temperature,
    text: echo.text,
    tool_choice: echo.tool_choice,
    tools: echo.tools,
    top_p: echo.top_p,
    truncation: echo.truncation,
    usage: state.usage,
    user: echo.user,
    metadata: echo.metadata,
    // TensorZero's extra field on its OpenAI-compatible answers.
    episode_id: meta.episodeId
  }
}
