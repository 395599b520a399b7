// Responses API input → the internal Input: a string, or items (messages of input_text / input_image parts,
// function_call and function_call_output items, item_reference to an earlier output item), after `instructions`
// and the exchange `previous_response_id` names. System and developer messages join `instructions` (newlines) into
// the system input; consecutive items of one role become one message (a model call alternates roles).
import type { ExchangeReads, StoredExchange } from '../../core/exchanges.ts'
import type { ContentBlock, Input, Message, OutputBlock } from '../../core/types.ts'
import { badRequest, GatewayError } from '../../core/errors.ts'
import { inferenceIdOfResponse, parseItemId } from './responses-ids.ts'
import { isObject } from './validate.ts'
import type { Json } from './validate.ts'

/** Earlier exchanges read once per request, whether named by `previous_response_id` or by item references. */
class Exchanges {
  private readonly seen = new Map<string, Promise<StoredExchange | null>>()
  private readonly reads: ExchangeReads
  constructor (reads: ExchangeReads) { this.reads = reads }
  async get (inferenceId: string): Promise<StoredExchange | null> {
    let found = this.seen.get(inferenceId)
    if (found === undefined) { found = this.reads.exchange(inferenceId); this.seen.set(inferenceId, found) }
    try {
      return await found
    } catch (err) {
      // Not in memory, and the store could not be asked: the id may well exist, so not a 400.
      throw new GatewayError(503, `The earlier response of inference ${inferenceId} is not in memory and ClickHouse could not be read: ${(err as Error).message}`)
    }
  }
}

/** The input, and the episode of the exchange `previous_response_id` continues (if it names one). */
export async function parseResponsesInput (body: Json, reads: ExchangeReads): Promise<{ input: Input; previousEpisodeId?: string }> {
  const exchanges = new Exchanges(reads)
  const turns = new Turns()
  const system: string[] = []
  if (body.instructions !== undefined && body.instructions !== null) {
    if (typeof body.instructions !== 'string') throw badRequest('`instructions` must be a string')
    system.push(body.instructions)
  }
  let previousSystem: Input['system']
  let previousEpisodeId: string | undefined
  const previous = body.previous_response_id
  if (previous !== undefined && previous !== null) {
    if (typeof previous !== 'string') throw badRequest('`previous_response_id` must be a string')
    const id = inferenceIdOfResponse(previous)
    const exchange = id === undefined ? null : await exchanges.get(id)
    if (exchange === null) {
      throw new GatewayError(400, `Previous response with id '${previous}' not found.`, { code: 'previous_response_not_found', param: 'previous_response_id' })
    }
    previousSystem = exchange.input.system
    previousEpisodeId = exchange.episodeId
    for (const m of exchange.input.messages) turns.add(m.role, m.content)
    turns.add('assistant', replayable(exchange.output))
  }

  const raw = body.input
  if (typeof raw === 'string') turns.add('user', [{ type: 'text', text: raw }])
  else if (Array.isArray(raw)) {
    for (let i = 0; i < raw.length; i++) await addItem(raw[i], `input[${i}]`, turns, system, exchanges)
  } else if (raw !== undefined && raw !== null) throw badRequest('`input` must be a string or an array of input items')

  const input: Input = { messages: turns.messages }
  // `instructions` are not carried over from the previous response (as OpenAI): the new ones replace them; without any, the earlier system input stays.
  if (system.length > 0) input.system = system.join('\n')
  else if (previousSystem !== undefined) input.system = previousSystem
  if (input.messages.length === 0) throw badRequest('`input` is empty: send a string or at least one input item')
  return { input, previousEpisodeId }
}

/** Output blocks sent back as the assistant's turn; thoughts are not (the core's input has no place for them). */
function replayable (output: OutputBlock[]): ContentBlock[] {
  return output.filter((b): b is Exclude<OutputBlock, { type: 'thought' }> => b.type !== 'thought')
}

class Turns {
  readonly messages: Message[] = []
  /** call_id → function name, for the outputs that answer them. */
  readonly toolNames = new Map<string, string>()

  add (role: Message['role'], content: ContentBlock[]): void {
    if (content.length === 0) return
    for (const b of content) if (b.type === 'tool_call') this.toolNames.set(b.id, b.name)
    const last = this.messages.at(-1)
    if (last?.role === role) last.content.push(...content)
    else this.messages.push({ role, content: [...content] })
  }
}

async function addItem (item: unknown, where: string, turns: Turns, system: string[], exchanges: Exchanges): Promise<void> {
  if (!isObject(item)) throw badRequest(`\`${where}\` must be an object`)
  const type = item.type ?? 'message'
  switch (type) {
    case 'message': {
      const role = item.role
      if (role === 'system' || role === 'developer') {
        system.push(...contentOf(item.content, where, 'system').map(b => (b as { text: string }).text))
      } else if (role === 'user' || role === 'assistant') {
        turns.add(role, contentOf(item.content, where, role))
      } else throw badRequest(`\`${where}.role\` must be one of user, assistant, system, developer`)
      return
    }
    case 'function_call': {
      if (typeof item.call_id !== 'string' || typeof item.name !== 'string' || typeof item.arguments !== 'string') {
        throw badRequest(`\`${where}\`: a function_call item needs string \`call_id\`, \`name\` and \`arguments\``)
      }
      turns.add('assistant', [{ type: 'tool_call', id: item.call_id, name: item.name, arguments: item.arguments }])
      return
    }
    case 'function_call_output': {
      if (typeof item.call_id !== 'string') throw badRequest(`\`${where}.call_id\` must be a string`)
      const result = toolOutputOf(item.output, where)
      turns.add('user', [{ type: 'tool_result', id: item.call_id, name: turns.toolNames.get(item.call_id) ?? '', result }])
      return
    }
    case 'item_reference': {
      if (typeof item.id !== 'string') throw badRequest(`\`${where}.id\` must be a string`)
      turns.add('assistant', await referencedBlock(item.id, where, exchanges))
      return
    }
    // Reasoning items come back from clients that replay a conversation; the models are not sent earlier thoughts.
    case 'reasoning': return
    default:
      throw badRequest(`\`${where}\`: input items of type \`${String(type)}\` are not supported by tz-sidecar (it serves message, function_call, function_call_output, item_reference and reasoning items)`)
  }
}

async function referencedBlock (itemId: string, where: string, exchanges: Exchanges): Promise<ContentBlock[]> {
  const ref = parseItemId(itemId)
  const exchange = ref === undefined ? null : await exchanges.get(ref.inferenceId)
  const type = ref === undefined ? undefined : ({ msg: 'text', fc: 'tool_call', rs: 'thought' } as const)[ref.kind]
  const block = ref === undefined || exchange === null ? undefined : exchange.output.filter(b => b.type === type)[ref.k]
  if (block === undefined) throw new GatewayError(400, `\`${where}\`: item with id '${itemId}' not found.`, { param: `${where}.id` })
  return replayable([block])
}

function contentOf (content: unknown, where: string, role: 'system' | 'user' | 'assistant'): ContentBlock[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }]
  if (!Array.isArray(content)) throw badRequest(`\`${where}.content\` must be a string or an array of content parts`)
  return content.map((part, j) => partOf(part, `${where}.content[${j}]`, role))
}

function partOf (part: unknown, where: string, role: 'system' | 'user' | 'assistant'): ContentBlock {
  if (!isObject(part)) throw badRequest(`\`${where}\` must be an object`)
  const type = part.type
  if ((type === 'input_text' || type === 'output_text') && typeof part.text === 'string') return { type: 'text', text: part.text }
  if (type === 'refusal' && role === 'assistant' && typeof part.refusal === 'string') return { type: 'text', text: part.refusal }
  if (type === 'input_image' && role === 'user') {
    if (typeof part.image_url !== 'string') throw badRequest(`\`${where}\`: input_image needs an \`image_url\` (a URL or data URL); file ids are not served by tz-sidecar`)
    const detail = part.detail
    if (detail !== undefined && detail !== null && detail !== 'low' && detail !== 'high' && detail !== 'auto') throw badRequest(`\`${where}.detail\` must be low, high or auto`)
    return detail === undefined || detail === null ? { type: 'image', url: part.image_url } : { type: 'image', url: part.image_url, detail }
  }
  if (type === 'input_text' || type === 'output_text') throw badRequest(`\`${where}.text\` must be a string`)
  throw badRequest(`\`${where}\`: content parts of type \`${String(type)}\` are not supported in a ${role} message by tz-sidecar`)
}

function toolOutputOf (output: unknown, where: string): string {
  if (typeof output === 'string') return output
  if (Array.isArray(output)) {
    return output.map((part, j) => {
      if (!isObject(part) || part.type !== 'input_text' || typeof part.text !== 'string') {
        throw badRequest(`\`${where}.output[${j}]\`: tz-sidecar takes only input_text parts in a function_call_output`)
      }
      return part.text
    }).join('')
  }
  throw badRequest(`\`${where}.output\` must be a string or an array of input_text parts`)
}
