// Stored `input` / `output` columns (TensorZero's shapes, as rows.ts writes them and a TensorZero gateway does) read
// back into the core's Input and output blocks, so an earlier exchange can be sent to a model again.
// Files are kept as pointers only (no object store): a file whose URL was stored comes back as that URL; an inline
// file (`data:` URL, stored without its bytes) cannot, and is left out.
import type { ExchangeReads, StoredExchange } from '../core/exchanges.ts'
import type { ContentBlock, Input, Message, OutputBlock } from '../core/types.ts'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const str = (v: unknown): string => typeof v === 'string' ? v : (v === undefined || v === null ? '' : JSON.stringify(v))

export function storedInputOf (text: string): Input {
  const raw: unknown = JSON.parse(text)
  if (!isObj(raw)) throw new Error('stored input is not an object')
  const input: Input = { messages: [] }
  if (typeof raw.system === 'string' || isObj(raw.system)) input.system = raw.system
  for (const m of Array.isArray(raw.messages) ? raw.messages : []) {
    if (!isObj(m) || (m.role !== 'user' && m.role !== 'assistant')) continue
    const content = (Array.isArray(m.content) ? m.content : []).flatMap(inputBlock)
    input.messages.push({ role: m.role, content } satisfies Message)
  }
  return input
}

function inputBlock (b: unknown): ContentBlock[] {
  if (!isObj(b)) return []
  switch (b.type) {
    // `value` is TensorZero's legacy text field.
    case 'text': return [{ type: 'text', text: str(b.text ?? b.value) }]
    case 'raw_text': return [{ type: 'raw_text', value: str(b.value) }]
    case 'template': return isObj(b.arguments) ? [{ type: 'template', name: str(b.name), arguments: b.arguments }] : []
    case 'tool_call': return [{ type: 'tool_call', id: str(b.id), name: str(b.name ?? b.raw_name), arguments: str(b.arguments ?? b.raw_arguments) }]
    case 'tool_result': return [{ type: 'tool_result', id: str(b.id), name: str(b.name), result: str(b.result) }]
    case 'file': {
      if (typeof b.source_url !== 'string') return []
      const detail = b.detail === 'low' || b.detail === 'high' || b.detail === 'auto' ? b.detail : undefined
      return [detail === undefined ? { type: 'image', url: b.source_url } : { type: 'image', url: b.source_url, detail }]
    }
    default: return []
  }
}

/** Chat `output` (content blocks) or JSON `output` (`{"raw","parsed"}`: the raw text is what the model answered). */
export function storedOutputOf (text: string): OutputBlock[] {
  const raw: unknown = JSON.parse(text)
  if (isObj(raw)) return typeof raw.raw === 'string' ? [{ type: 'text', text: raw.raw }] : []
  if (!Array.isArray(raw)) throw new Error('stored output is neither blocks nor a JSON output')
  return raw.flatMap((b: unknown): OutputBlock[] => {
    if (!isObj(b)) return []
    if (b.type === 'text') return [{ type: 'text', text: str(b.text) }]
    if (b.type === 'thought') return [{ type: 'thought', text: str(b.text) }]
    if (b.type === 'tool_call') return [{ type: 'tool_call', id: str(b.id), name: str(b.raw_name ?? b.name), arguments: str(b.raw_arguments ?? b.arguments) }]
    return []
  })
}

/** Memory first, then the store; an exchange found in neither is null. */
export function layeredExchanges (first: ExchangeReads, then?: ExchangeReads): ExchangeReads {
  return {
    async exchange (id): Promise<StoredExchange | null> {
      return await first.exchange(id) ?? await then?.exchange(id) ?? null
    }
  }
}
