// One exchange with one provider: the encoded request through its transport, the answer through its adapter.
// Routing, timeouts and records are the model walk's; this is only the protocol between adapter and transport.
// A failed answer is scrubbed of the credentials the call sent before it becomes an error (an upstream that echoes the
// key it received must not hand it to the client, the logs, the spans or the rows).
import type { ChunkRawUsage, ModelRequest, StreamDelta } from '../core/types.ts'
import { providerUsageObject } from './http/json.ts'
import { ProviderError } from '../core/errors.ts'
import { NO_CHUNK, type HttpRequestSpec, type ProviderAdapter, type ProviderContext, type ProviderTransport, type SseEvent } from './adapter.ts'
import { scrubbedProviderError, withoutSentSecrets } from './secrets.ts'

/** What `raw_response` keeps of an answer or of a stream's raw events: past this many characters the rest is dropped, and said so. */
const RAW_STREAM_KEEP_CHARS = 1024 * 1024

/**
 * A non-streaming answer's body as `raw_response` keeps it (the parse had the whole body; the rows need not). A cut
 * body is copied out, so that the whole body (a slice would keep it alive) can go once it is parsed.
 */
export function keptRawAnswer (body: string): string {
  if (body.length <= RAW_STREAM_KEEP_CHARS) return body
  return `${Buffer.from(body.slice(0, RAW_STREAM_KEEP_CHARS)).toString()}\n[raw_response truncated: the answer passed ${RAW_STREAM_KEEP_CHARS} characters]`
}

/** A 2xx answer through `parse`; any other answer is thrown as the adapter's classified error. */
export async function parsedAnswer<T> (adapter: ProviderAdapter, transport: ProviderTransport, spec: HttpRequestSpec,
  signal: AbortSignal, parse: (body: string) => T): Promise<T> {
  const answer = await transport.request(spec, signal)
  if (answer.status < 200 || answer.status >= 300) throw failedAnswer(adapter, spec, answer.status, answer.body, answer.headers)
  try {
    return parse(answer.body)
  } catch (err) {
    // A 2xx body can be an error in disguise (some proxies answer 200 with the error), quoting what it received.
    throw err instanceof ProviderError ? scrubbedProviderError(err, spec.headers) : err
  }
}

export type EmbeddingAdapter = ProviderAdapter & Required<Pick<ProviderAdapter, 'buildEmbeddingRequest' | 'parseEmbeddingResponse'>>

export function servesEmbeddings (adapter: ProviderAdapter): adapter is EmbeddingAdapter {
  return adapter.buildEmbeddingRequest !== undefined && adapter.parseEmbeddingResponse !== undefined
}

/** Past the stored part of a stream, how many of its last events are still kept: usage comes last, and prices a call. */
const RAW_STREAM_TAIL_EVENTS = 8

/**
 * A stream's raw events: `kept` is the stored raw response (the data of every event that made a chunk, as TensorZero
 * stores it, up to `RAW_STREAM_KEEP_CHARS`, then one line marking the truncation); `tail` the last few events past that point, so a long answer can still be priced.
 * `forward`: each event's data also rides on its delta, for a client that asked for raw chunks (the string the SSE
 * parser made, not a copy; left off otherwise).
 */
export class RawStream {
  readonly kept: string[] = []
  readonly tail: string[] = []
  private chars = 0

  readonly forward: boolean
  /** The call an event's usage belongs to, for a client that asked for raw usage (absent: not asked). */
  readonly usageCall?: Omit<ChunkRawUsage, 'usage'>

  constructor (forward = false, usageCall?: Omit<ChunkRawUsage, 'usage'>) {
    this.forward = forward
    if (usageCall !== undefined) this.usageCall = usageCall
  }

  add (data: string): void {
    if (this.chars <= RAW_STREAM_KEEP_CHARS) {
      this.chars += data.length
      this.kept.push(this.chars <= RAW_STREAM_KEEP_CHARS ? data : `[raw_response truncated: the stream passed ${RAW_STREAM_KEEP_CHARS} characters]`)
      if (this.chars <= RAW_STREAM_KEEP_CHARS) return
    }
    if (this.tail.length === RAW_STREAM_TAIL_EVENTS) this.tail.shift()
    this.tail.push(data)
  }

  /** Every event kept, stored part first: what a stream's cost is read from. */
  events (): string[] {
    return this.tail.length === 0 ? this.kept : [...this.kept, ...this.tail]
  }
}

/** The stream's deltas as they arrive, up to the adapter's end marker; each event's data goes to `raw`. */
export async function openStream (adapter: ProviderAdapter, transport: ProviderTransport, spec: HttpRequestSpec,
  req: ModelRequest, ctx: ProviderContext, signal: AbortSignal, rawChunks: RawStream): Promise<AsyncIterator<StreamDelta>> {
  const answer = await transport.stream(spec, signal)
  if (answer.events === undefined) throw failedAnswer(adapter, spec, answer.status, answer.body ?? '', answer.headers)
  return translated(adapter, answer.events, spec, req, ctx, rawChunks)
}

function failedAnswer (adapter: ProviderAdapter, spec: HttpRequestSpec, status: number, body: string,
  headers: Parameters<ProviderAdapter['classifyError']>[2]): ProviderError {
  return adapter.classifyError(status, withoutSentSecrets(body, spec.headers), headers)
}

async function * translated (adapter: ProviderAdapter, events: AsyncIterable<SseEvent>, spec: HttpRequestSpec, req: ModelRequest,
  ctx: ProviderContext, rawChunks: RawStream): AsyncGenerator<StreamDelta> {
  const state = adapter.newStreamState(req, ctx)
  try {
    for await (const event of events) {
      const delta = adapter.parseStreamEvent(event, state, req, ctx)
      if (delta === null) return
      // What is stored is what TensorZero stores: the raw text of the events that made a chunk.
      if (delta === NO_CHUNK) continue
      rawChunks.add(event.data)
      if (rawChunks.forward) delta.raw = event.data
      if (rawChunks.usageCall !== undefined && delta.usage !== undefined) {
        const usage = providerUsageObject(event.data)
        if (usage !== undefined) delta.rawUsage = { ...rawChunks.usageCall, usage }
      }
      yield delta
    }
  } catch (err) {
    // An error event in the stream may quote what the provider received, as an error answer may.
    throw err instanceof ProviderError ? scrubbedProviderError(err, spec.headers) : err
  }
}
