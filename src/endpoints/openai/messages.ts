// OpenAI chat messages → the internal Input, as TensorZero's OpenAI-compatible endpoint reads them: system/developer
// messages joined with newlines,
// consecutive tool messages folded into one user turn of tool results.
import type { Input, Message, ContentBlock, ToolCallBlock } from '../../core/types.ts'
import { badRequest } from '../../core/errors.ts'
import { isObject } from './validate.ts'
import type { Json } from './validate.ts'

export function parseMessages (raw: unknown): Input {
  if (!Array.isArray(raw)) throw badRequest('`messages` must be an array')
  const systemParts: string[] = []
  let systemArguments: Record<string, unknown> | undefined
  const messages: Message[] = []
  const toolNames = new Map<string, string>()
  let pendingResults: ContentBlock[] | undefined

  raw.forEach((m, i) => {
    if (!isObject(m)) throw badRequest(`\`messages[${i}]\` must be an object`)
    const role = m.role
    if (role !== 'tool' && pendingResults !== undefined) {
      messages.push({ role: 'user', content: pendingResults })
      pendingResults = undefined
    }
    switch (role) {
      case 'system':
      case 'developer': {
        const content = parseContent(m.content, i, 'system')
        for (const block of content) {
          if (block.type === 'text') systemParts.push(block.text)
          else if (block.type === 'raw_text') systemParts.push(block.value)
          else if (block.type === 'template') {
            if (systemArguments !== undefined || systemParts.length > 0) throw badRequest('System message cannot contain template with other content')
            systemArguments = block.arguments
          } else throw badRequest(`\`messages[${i}]\`: a ${role} message may only hold text or template content blocks`)
        }
        break
      }
      case 'user':
        messages.push({ role: 'user', content: parseContent(m.content, i, 'user') })
        break
      case 'assistant': {
        const content = m.content === null || m.content === undefined ? [] : parseContent(m.content, i, 'assistant')
        if (m.tool_calls !== undefined && m.tool_calls !== null) {
          for (const call of parseToolCalls(m.tool_calls, i)) {
            toolNames.set(call.id, call.name)
            content.push(call)
          }
        }
        messages.push({ role: 'assistant', content })
        break
      }
      case 'tool': {
        if (typeof m.tool_call_id !== 'string') throw badRequest(`\`messages[${i}].tool_call_id\` must be a string`)
        const result = textOf(m.content, i)
        pendingResults ??= []
        pendingResults.push({ type: 'tool_result', id: m.tool_call_id, name: toolNames.get(m.tool_call_id) ?? (typeof m.name === 'string' ? m.name : ''), result })
        break
      }
      default:
        throw badRequest(`\`messages[${i}].role\` must be one of system, developer, user, assistant, tool`)
    }
  })
  if (pendingResults !== undefined) messages.push({ role: 'user', content: pendingResults })

  const input: Input = { messages }
  if (systemArguments !== undefined) {
    if (systemParts.length > 0) throw badRequest('system messages mix text and template arguments')
    input.system = systemArguments
  } else if (systemParts.length > 0) {
    input.system = systemParts.join('\n')
  }
  return input
}

/**
 * Message content as TensorZero's OpenAI-compatible endpoint reads it: a string is text; an array holds parts, where
 * `{"type":"text","tensorzero::arguments":{…}}` and (deprecated) an object without `type` are template arguments named
 * after the role, `tensorzero::template` names its template, `tensorzero::raw_text` is text no template wraps.
 * The sidecar also accepts content that is itself a JSON object as arguments named after the role (TensorZero: 400).
 */
function parseContent (content: unknown, i: number, role: 'system' | 'user' | 'assistant'): ContentBlock[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }]
  if (isObject(content)) return [{ type: 'template', name: role, arguments: content }]
  if (!Array.isArray(content)) throw badRequest(`\`messages[${i}].content\` must be a string or an array of content parts`)
  return content.map((part, j) => parsePart(part, i, j, role))
}

function parsePart (part: unknown, i: number, j: number, role: 'system' | 'user' | 'assistant'): ContentBlock {
  const where = `\`messages[${i}].content[${j}]\``
  if (!isObject(part)) throw badRequest(`${where} must be an object`)
  if (part.type === 'text') {
    const args = part['tensorzero::arguments']
    if (args !== undefined && part.text !== undefined) throw badRequest(`${where}: only one of \`text\` or \`tensorzero::arguments\` can be set when using "type": "text"`)
    if (args !== undefined) {
      if (!isObject(args)) throw badRequest(`${where}: \`tensorzero::arguments\` must be an object when using "type": "text"`)
      return { type: 'template', name: role, arguments: args }
    }
    if (typeof part.text !== 'string') throw badRequest(`${where}.text must be a string`)
    return { type: 'text', text: part.text }
  }
  if (part.type === 'tensorzero::template') {
    if (typeof part.name !== 'string' || !isObject(part.arguments)) throw badRequest(`${where} must have a string \`name\` and an object \`arguments\``)
    return { type: 'template', name: part.name, arguments: part.arguments }
  }
  if (part.type === 'tensorzero::raw_text') {
    if (typeof part.value !== 'string') throw badRequest(`${where}: \`tensorzero::raw_text\` needs a string \`value\``)
    return { type: 'raw_text', value: part.value }
  }
  if (part.type === undefined) {
    // TensorZero's deprecated form: a bare JSON object is the arguments of the role's template.
    if (Object.keys(part).some(k => k.startsWith('tensorzero::'))) throw badRequest(`${where}: invalid TensorZero content block`)
    return { type: 'template', name: role, arguments: part }
  }
  if (part.type === 'image_url' && role === 'user') {
    const image = part.image_url
    if (!isObject(image) || typeof image.url !== 'string') throw badRequest(`${where}.image_url.url must be a string`)
    const detail = image.detail
    if (detail !== undefined && detail !== 'low' && detail !== 'high' && detail !== 'auto') throw badRequest(`${where}.image_url.detail must be low, high or auto`)
    return detail === undefined ? { type: 'image', url: image.url } : { type: 'image', url: image.url, detail }
  }
  throw badRequest(`${where}: unsupported content part type \`${String(part.type)}\``)
}

function parseToolCalls (raw: unknown, i: number): ToolCallBlock[] {
  if (!Array.isArray(raw)) throw badRequest(`\`messages[${i}].tool_calls\` must be an array`)
  return raw.map((call: unknown, j) => {
    const fn = isObject(call) ? call.function as Json : undefined
    if (!isObject(call) || typeof call.id !== 'string' || !isObject(fn) || typeof fn.name !== 'string' || typeof fn.arguments !== 'string') {
      throw badRequest(`\`messages[${i}].tool_calls[${j}]\` must have a string id, function.name and function.arguments`)
    }
    return { type: 'tool_call', id: call.id, name: fn.name, arguments: fn.arguments }
  })
}

function textOf (content: unknown, i: number): string {
  if (typeof content === 'string') return content
  if (Array.isArray(content)) {
    return content.map((part, j) => {
      if (!isObject(part) || part.type !== 'text' || typeof part.text !== 'string') throw badRequest(`\`messages[${i}].content[${j}]\` must be a text part`)
      return part.text
    }).join('')
  }
  throw badRequest(`\`messages[${i}].content\` must be a string`)
}
