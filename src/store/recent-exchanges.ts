// The exchanges this process served most recently, kept so a conversation continued from one (`previous_response_id`)
// is rebuilt without a ClickHouse round trip, also while the rows are still in the spool. Bounded in count and in
// (approximate) bytes; the least recently used go first.
import type { ExchangeReads, StoredExchange } from '../core/exchanges.ts'
import type { InferenceRecord } from '../core/records.ts'
import type { ContentBlock, OutputBlock } from '../core/types.ts'

// Every inference is remembered, chat completions too (a Responses client may continue from any id), so the bytes
// bound is kept small next to the process's memory target; for short exchanges the count binds first.
const DEFAULT_RECENT_EXCHANGES = 2_000
const DEFAULT_RECENT_EXCHANGE_BYTES = 16 * 1024 * 1024

export class RecentExchanges implements ExchangeReads {
  private readonly entries = new Map<string, { exchange: StoredExchange; bytes: number }>()
  private bytes = 0

  readonly maxEntries: number
  readonly maxBytes: number
  constructor (maxEntries = DEFAULT_RECENT_EXCHANGES, maxBytes = DEFAULT_RECENT_EXCHANGE_BYTES) {
    this.maxEntries = maxEntries
    this.maxBytes = maxBytes
  }

  remember (rec: InferenceRecord): void {
    const exchange = { input: rec.input, output: rec.output, episodeId: rec.episodeId }
    const bytes = sizeOf(exchange)
    const id = rec.inferenceId.toLowerCase()
    this.drop(id)
    // One exchange larger than the whole budget is not kept: it would evict everything else and then itself.
    if (bytes > this.maxBytes) return
    this.entries.set(id, { exchange, bytes })
    this.bytes += bytes
    for (const key of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break
      this.drop(key)
    }
  }

  async exchange (inferenceId: string): Promise<StoredExchange | null> {
    const id = inferenceId.toLowerCase()
    const entry = this.entries.get(id)
    if (entry === undefined) return null
    // Used again: it becomes the youngest.
    this.entries.delete(id)
    this.entries.set(id, entry)
    return entry.exchange
  }

  get size (): { entries: number; bytes: number } { return { entries: this.entries.size, bytes: this.bytes } }

  private drop (id: string): void {
    const entry = this.entries.get(id)
    if (entry === undefined) return
    this.entries.delete(id)
    this.bytes -= entry.bytes
  }
}

/** Memory held by an exchange, counted by its strings (two bytes a character) plus a fixed cost per block. */
function sizeOf (exchange: StoredExchange): number {
  const BLOCK = 64
  let size = typeof exchange.input.system === 'string' ? exchange.input.system.length * 2 : 0
  if (typeof exchange.input.system === 'object') size += JSON.stringify(exchange.input.system).length * 2
  for (const m of exchange.input.messages) for (const b of m.content) size += BLOCK + blockChars(b) * 2
  for (const b of exchange.output) size += BLOCK + blockChars(b) * 2
  return size
}

function blockChars (b: ContentBlock | OutputBlock): number {
  switch (b.type) {
    case 'text': return b.text.length
    case 'thought': return b.text.length
    case 'raw_text': return b.value.length
    case 'image': return b.url.length
    case 'tool_call': return b.id.length + b.name.length + b.arguments.length
    case 'tool_result': return b.id.length + b.name.length + b.result.length
    case 'template': return JSON.stringify(b.arguments).length
  }
}
