// How a DICL variant turns the input and its stored examples into text, as TensorZero does: the input serialised as
// a StoredInput (template blocks as their JSON text, files refused) is what gets embedded and what the model sees;
// each example becomes a user turn (its input) and an assistant turn (its output).
import type { ContentBlock, Input, Message } from '../core/types.ts'
import type { DiclExample } from '../core/stored-data.ts'
import { GatewayError, badRequest } from '../core/errors.ts'

/** A template block as the text TensorZero puts in its place: `{"type":"template","name":…,"arguments":…}`. */
function templateText (b: { name: string; arguments: Record<string, unknown> }): string {
  return JSON.stringify({ type: 'template', name: b.name, arguments: b.arguments })
}

function storedBlock (b: ContentBlock): Record<string, unknown> {
  switch (b.type) {
    case 'text': return { type: 'text', text: b.text }
    case 'template': return { type: 'text', text: templateText(b) }
    case 'raw_text': return { type: 'raw_text', value: b.value }
    case 'tool_call': return { type: 'tool_call', id: b.id, name: b.name, arguments: b.arguments }
    case 'tool_result': return { type: 'tool_result', name: b.name, result: b.result, id: b.id }
    case 'image': throw badRequest('image content is not supported by dynamic in-context learning variants')
  }
}

/** The input as TensorZero serialises it for a DICL variant (StoredInput JSON, field order as TensorZero writes it). */
export function serializedInput (input: Input): string {
  const out: Record<string, unknown> = {}
  if (input.system !== undefined) out.system = input.system
  out.messages = input.messages.map(m => ({ role: m.role, content: m.content.map(storedBlock) }))
  return JSON.stringify(out)
}

/** No examples: the input's own messages, template blocks as their JSON text, raw text as text. */
export function plainMessages (input: Input): Message[] {
  return input.messages.map(m => ({
    role: m.role,
    content: m.content.map((b): ContentBlock => {
      if (b.type === 'template') return { type: 'text', text: templateText(b) }
      if (b.type === 'raw_text') return { type: 'text', text: b.value }
      return b
    })
  }))
}

/** Each example as a user turn and an assistant turn, then the input itself as the last user turn. */
export function exampleMessages (examples: DiclExample[], functionType: 'chat' | 'json', input: Input): Message[] {
  const messages: Message[] = []
  for (const example of examples) {
    messages.push({ role: 'user', content: [{ type: 'text', text: exampleInput(example.input) }] })
    messages.push({ role: 'assistant', content: exampleOutput(example.output, functionType) })
  }
  messages.push({ role: 'user', content: [{ type: 'text', text: serializedInput(input) }] })
  return messages
}

/** A stored example is data someone else wrote: a malformed one fails the variant (TensorZero: a serialization error). */
function badExample (what: string): GatewayError {
  return new GatewayError(500, `DynamicInContextLearningExample row is malformed: ${what}`)
}

function exampleInput (text: string): string {
  let input: unknown
  try { input = JSON.parse(text) } catch (err) { throw badExample(`\`input\` is not JSON (${(err as Error).message})`) }
  const messages = (input as { messages?: unknown } | null)?.messages
  if (!Array.isArray(messages)) throw badExample('`input` has no `messages` array')
  for (const m of messages as Array<{ content?: unknown }>) {
    if (Array.isArray(m?.content) && m.content.some((b: { type?: unknown }) => b?.type === 'file')) {
      throw badExample('images are not supported in dynamic in-context learning')
    }
  }
  return JSON.stringify(input)
}

type StoredOutputBlock = { type?: string; text?: string; id?: string; raw_name?: string; raw_arguments?: string }

function exampleOutput (text: string, functionType: 'chat' | 'json'): ContentBlock[] {
  if (text === '') throw badExample('`output` is empty')
  let output: unknown
  try { output = JSON.parse(text) } catch (err) { throw badExample(`\`output\` is not JSON (${(err as Error).message})`) }
  if (functionType === 'json') {
    const raw = (output as { raw?: unknown } | null)?.raw
    if (output === null || typeof output !== 'object' || Array.isArray(output)) throw badExample('`output` is not a JSON output object')
    return [{ type: 'text', text: typeof raw === 'string' ? raw : '' }]
  }
  if (!Array.isArray(output)) throw badExample('`output` is not a list of content blocks')
  const blocks: ContentBlock[] = []
  for (const b of output as StoredOutputBlock[]) {
    if (b?.type === 'text' && typeof b.text === 'string') blocks.push({ type: 'text', text: b.text })
    else if (b?.type === 'tool_call') blocks.push({ type: 'tool_call', id: String(b.id ?? ''), name: String(b.raw_name ?? ''), arguments: String(b.raw_arguments ?? '') })
    // Thoughts and unknown blocks: the model request has no place for them here, so they are left out.
  }
  return blocks
}
