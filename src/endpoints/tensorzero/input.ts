// TensorZero's native `input` → the internal Input: `system` as text or template arguments, messages whose content is
// a string (text) or an array of typed blocks (text, template, raw_text, tool_call, tool_result, file/image, thought,
// unknown), with the legacy forms TensorZero still reads (`{"type":"text","arguments":{…}}`, untagged files).
import type { Input, Message, ContentBlock, Role } from '../../core/types.ts'
import { badRequest } from '../../core/errors.ts'
import { isObject } from '../openai/validate.ts'
import type { Json } from '../openai/validate.ts'

const INPUT_KEYS = new Set(['system', 'messages'])

export function parseNativeInput (raw: unknown): Input {
  if (!isObject(raw)) throw badRequest('input: invalid type: expected struct Input')
  const unknownKey = Object.keys(raw).find(k => !INPUT_KEYS.has(k))
  if (unknownKey !== undefined) throw badRequest(`input: unknown field \`${unknownKey}\`, expected \`system\` or \`messages\``)
  const input: Input = { messages: [] }
  const system = raw.system
  if (typeof system === 'string' || isObject(system)) input.system = system
  else if (system !== undefined && system !== null) throw badRequest('input.system: expected a string or an object of template arguments')
  const messages = raw.messages ?? []
  if (!Array.isArray(messages)) throw badRequest('input.messages: invalid type: expected a sequence')
  input.messages = messages.map((m: unknown, i) => parseMessage(m, `input.messages[${i}]`))
  return input
}

function parseMessage (raw: unknown, where: string): Message {
  if (!isObject(raw)) throw badRequest(`${where}: invalid type: expected struct InputMessage`)
  const role = raw.role
  if (role !== 'user' && role !== 'assistant') throw badRequest(`${where}.role: unknown variant \`${String(role)}\`, expected \`user\` or \`assistant\``)
  const content = raw.content
  if (typeof content === 'string') return { role, content: [{ type: 'text', text: content }] }
  if (!Array.isArray(content)) throw badRequest(`${where}.content: expected a string or an array of content blocks`)
  const blocks: ContentBlock[] = []
  content.forEach((block: unknown, j) => {
    const parsed = parseBlock(block, role, `${where}.content[${j}]`)
    if (parsed !== undefined) blocks.push(parsed)
  })
  return { role, content: blocks }
}

/** One content block; undefined for a block that is accepted but never sent (a thought). */
function parseBlock (raw: unknown, role: Role, where: string): ContentBlock | undefined {
  if (typeof raw === 'string') return { type: 'text', text: raw }
  if (!isObject(raw)) throw badRequest(`${where}: expected a content block object`)
  switch (raw.type) {
    case 'text': return textBlock(raw, role, where)
    case 'template': {
      if (typeof raw.name !== 'string' || !isObject(raw.arguments)) throw badRequest(`${where}: a template block needs a string \`name\` and an object \`arguments\``)
      return { type: 'template', name: raw.name, arguments: raw.arguments }
    }
    case 'raw_text':
      if (typeof raw.value !== 'string') throw badRequest(`${where}: a raw_text block needs a string \`value\``)
      return { type: 'raw_text', value: raw.value }
    case 'tool_call': return toolCallBlock(raw, where)
    case 'tool_result':
      if (typeof raw.id !== 'string' || typeof raw.name !== 'string' || typeof raw.result !== 'string') {
        throw badRequest(`${where}: a tool_result block needs string \`id\`, \`name\` and \`result\``)
      }
      return { type: 'tool_result', id: raw.id, name: raw.name, result: raw.result }
    case 'file':
    case 'image':
      return fileBlock(raw, role, where)
    case 'thought':
      // No provider translator here sends thoughts back to a model (as TensorZero drops them for chat completions
      // providers); accepted so a client can replay an earlier answer's content as it received it.
      if (raw.text !== undefined && raw.text !== null && typeof raw.text !== 'string') throw badRequest(`${where}: a thought block's \`text\` must be a string`)
      return undefined
    case 'unknown':
      throw badRequest(`${where}: \`unknown\` content blocks (provider-specific data passed through as is) are not supported by tz-sidecar`)
    default:
      throw badRequest(`${where}: unknown variant \`${String(raw.type)}\`, expected one of \`text\`, \`template\`, \`tool_call\`, \`tool_result\`, \`raw_text\`, \`thought\`, \`file\`, \`unknown\``)
  }
}

/** `{"type":"text","text":…}`, or the legacy `{"type":"text","arguments":{…}}`: arguments of the role's template. */
function textBlock (raw: Json, role: Role, where: string): ContentBlock {
  const keys = Object.keys(raw).filter(k => k !== 'type')
  if (keys.length !== 1) throw badRequest(`${where}: Expected exactly one other key in text content, found ${keys.length} other keys`)
  if (keys[0] === 'text') {
    if (typeof raw.text !== 'string') throw badRequest(`${where}: Error deserializing \`text\`: expected a string`)
    return { type: 'text', text: raw.text }
  }
  if (keys[0] === 'arguments') {
    if (!isObject(raw.arguments)) throw badRequest(`${where}: Error deserializing \`arguments\`: expected an object`)
    return { type: 'template', name: role, arguments: raw.arguments }
  }
  throw badRequest(`${where}: Unknown key \`${keys[0]}\` in text content`)
}

/** `{id, name, arguments: string}`, or an earlier answer's block as returned (`raw_name`, `raw_arguments`, …). */
function toolCallBlock (raw: Json, where: string): ContentBlock {
  if (typeof raw.id !== 'string') throw badRequest(`${where}: a tool_call block needs a string \`id\``)
  if (typeof raw.raw_name === 'string' && typeof raw.raw_arguments === 'string') {
    return { type: 'tool_call', id: raw.id, name: raw.raw_name, arguments: raw.raw_arguments }
  }
  if (typeof raw.name !== 'string') throw badRequest(`${where}: a tool_call block needs a string \`name\``)
  const args = raw.arguments
  if (typeof args === 'string') return { type: 'tool_call', id: raw.id, name: raw.name, arguments: args }
  if (isObject(args)) return { type: 'tool_call', id: raw.id, name: raw.name, arguments: JSON.stringify(args) }
  throw badRequest(`${where}: a tool_call block's \`arguments\` must be a JSON string`)
}

/** Files by URL or base64 data (tagged with `file_type`, or the legacy untagged forms). Images only: what the providers here send. */
function fileBlock (raw: Json, role: Role, where: string): ContentBlock {
  if (role !== 'user') throw badRequest(`${where}: files may only appear in user messages`)
  const detail = raw.detail
  if (detail !== undefined && detail !== null && detail !== 'low' && detail !== 'high' && detail !== 'auto') throw badRequest(`${where}.detail: expected \`low\`, \`high\` or \`auto\``)
  const mime = raw.mime_type
  if (mime !== undefined && mime !== null && typeof mime !== 'string') throw badRequest(`${where}.mime_type: expected a string`)
  let url: string
  if (typeof raw.url === 'string' && raw.file_type !== 'base64') {
    if (!URL.canParse(raw.url)) throw badRequest(`${where}.url: invalid URL \`${raw.url.slice(0, 200)}\``)
    url = raw.url
  } else if (typeof raw.data === 'string') {
    if (typeof mime !== 'string') throw badRequest(`${where}: a base64 file needs \`mime_type\``)
    url = `data:${mime};base64,${raw.data}`
  } else {
    throw badRequest(`${where}: a file needs \`url\` or \`data\` with \`mime_type\``)
  }
  if (typeof mime === 'string' && !mime.startsWith('image/')) throw badRequest(`${where}: files of type \`${mime}\` are not supported by tz-sidecar (images only)`)
  return detail === undefined || detail === null ? { type: 'image', url } : { type: 'image', url, detail }
}
