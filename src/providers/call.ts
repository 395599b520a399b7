// One exchange with one provider: the encoded request through its transport, the answer through its adapter.
// Routing, timeouts and records are the model walk's; this is only the protocol between adapter and transport.
import type { ModelRequest, StreamDelta } from '../core/types.ts'
import type { HttpRequestSpec, ProviderAdapter, ProviderContext, ProviderTransport, SseEvent } from './adapter.ts'

/** The body of a 2xx answer; any other answer is thrown as the adapter's classified error. */
export async function answerBody (adapter: ProviderAdapter, transport: ProviderTransport, spec: HttpRequestSpec,
  signal: AbortSignal): Promise<string> {
  const answer = await transport.request(spec, signal)
  if (answer.status < 200 || answer.status >= 300) throw adapter.classifyError(answer.status, answer.body, answer.headers)
  return answer.body
}

export type EmbeddingAdapter = ProviderAdapter & Required<Pick<ProviderAdapter, 'buildEmbeddingRequest' | 'parseEmbeddingResponse'>>

export function servesEmbeddings (adapter: ProviderAdapter): adapter is EmbeddingAdapter {
  return adapter.buildEmbeddingRequest !== undefined && adapter.parseEmbeddingResponse !== undefined
}

/**
 * The stream's deltas as they arrive, up to the adapter's end marker. The data of every translated event is kept in
 * `rawChunks` (the stored raw response).
 */
export async function openStream (adapter: ProviderAdapter, transport: ProviderTransport, spec: HttpRequestSpec,
  req: ModelRequest, ctx: ProviderContext, signal: AbortSignal, rawChunks: string[]): Promise<AsyncIterator<StreamDelta>> {
  const answer = await transport.stream(spec, signal)
  if (answer.events === undefined) throw adapter.classifyError(answer.status, answer.body ?? '', answer.headers)
  return translated(adapter, answer.events, req, ctx, rawChunks)
}

async function * translated (adapter: ProviderAdapter, events: AsyncIterable<SseEvent>, req: ModelRequest,
  ctx: ProviderContext, rawChunks: string[]): AsyncGenerator<StreamDelta> {
  const state = adapter.newStreamState(req, ctx)
  for await (const event of events) {
    const delta = adapter.parseStreamEvent(event, state, req, ctx)
    if (delta === null) return
    rawChunks.push(event.data)
    yield delta
  }
}
