// `experimental_chain_of_thought` (tensorzero-core variant/chain_of_thought.rs; JSON functions only): a chat_completion
// variant whose model is asked for `{"thinking", "response"}`, the function's output schema wrapped with a thinking
// field. The client gets `response` alone; the row stores it as the output (raw text re-serialised) with the thinking
// as a thought block in `auxiliary_content`, and the function's own output schema. An answer that does not satisfy the
// wrapped schema is passed on as it came. Streaming is not supported (TensorZero's 500; other variants are tried).
import type { VariantConfig } from '../core/config.ts'
import type { OutputBlock } from '../core/types.ts'
import { GatewayError } from '../core/errors.ts'
import { buildModelRequest, implicitToolParams } from './chat-completion.ts'
import type { InferenceTimeRun, VariantAnswer } from './candidates.ts'

// One wrapped schema per output schema object, so its implicit tool (json_mode `tool`) is built once too.
const thinkingSchemas = new WeakMap<Record<string, unknown>, Record<string, unknown>>()

function thinkingSchema (outputSchema: Record<string, unknown>): Record<string, unknown> {
  let schema = thinkingSchemas.get(outputSchema)
  if (schema === undefined) {
    schema = {
      type: 'object',
      properties: {
        thinking: { type: 'string', description: 'A detailed description of the thought process used to arrive at the final answer.' },
        response: outputSchema
      },
      required: ['thinking', 'response'],
      additionalProperties: false
    }
    thinkingSchemas.set(outputSchema, schema)
  }
  return schema
}

export async function chainOfThought (variant: VariantConfig, run: InferenceTimeRun): Promise<VariantAnswer> {
  const outputSchema = run.decisions.outputSchema ?? {}
  const wrapped = thinkingSchema(outputSchema)
  const decisions = { ...run.decisions, outputSchema: wrapped, jsonModeTool: implicitToolParams(wrapped) }
  const answer = await run.answerRequest(variant, buildModelRequest(run.fn, variant, run.req, decisions, run.templates))
  return { ...withoutThinking(answer), outputSchema }
}

export function chainOfThoughtStream (): never {
  throw new GatewayError(500, 'Unsupported variant for streaming inference of type chain_of_thought.' +
    ' For more information, see: https://github.com/tensorzero/tensorzero/issues/1839')
}

function withoutThinking (answer: VariantAnswer): VariantAnswer {
  const parsed = answer.json?.parsed as { thinking?: unknown; response?: unknown } | null | undefined
  if (parsed === null || typeof parsed !== 'object' || typeof parsed.thinking !== 'string' || !('response' in parsed)) return answer
  const raw = JSON.stringify(parsed.response)
  const at = answer.output.findIndex(b => b.type === 'text')
  const thoughts = answer.output.filter(b => b.type === 'thought')
  const before = at < 0 ? thoughts.length : answer.output.slice(0, at).filter(b => b.type === 'thought').length
  const output: OutputBlock[] = [...thoughts.slice(0, before), { type: 'thought', text: parsed.thinking }, ...thoughts.slice(before), { type: 'text', text: raw }]
  return { ...answer, output, json: { raw, parsed: parsed.response } }
}
