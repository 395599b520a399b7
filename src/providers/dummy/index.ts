// The `dummy` provider: an in-process fake of an OpenAI-compatible upstream, spoken to through the OpenAI translator
// like any other. Its canned answers are chosen by `model_name` and mirror TensorZero's dummy provider (same texts,
// tool call and usage numbers) so configs and tests written for TensorZero behave the same here.
import { createHash } from 'node:crypto'
import type { FinishReason, OutputBlock } from '../../core/types.ts'
import type { HttpAnswer, HttpRequestSpec, HttpStreamAnswer, ProviderAdapter, ProviderContext, ProviderRequest, ProviderTransport, SseEvent } from '../adapter.ts'
import { ProviderError } from '../../core/errors.ts'
import { isObj } from '../http/json.ts'
import { createOpenAICompatibleAdapter } from '../openai/index.ts'

export const DUMMY_INFER_RESPONSE_CONTENT = 'Megumin gleefully chanted her spell, unleashing a thunderous explosion that lit up the sky and left a massive crater in its wake.'
const ALTERNATE_INFER_RESPONSE_CONTENT = 'Megumin chanted her spell, but instead of an explosion, a gentle rain began to fall.'
const DUMMY_JSON_RESPONSE_RAW = '{"answer":"Hello"}'
export const DUMMY_TOOL_ARGUMENTS = '{"location":"Brooklyn","units":"celsius"}'
/** TensorZero streams the tool arguments in these fragments. */
const DUMMY_STREAMING_TOOL_RESPONSE = ['{"location"', ':"Brooklyn"', ',"units"', ':"celsius', '"}']
const DUMMY_SLOW_DELAY_MS = 5000
/** `stream_error` yields this many chunks, then fails. */
export const DUMMY_STREAM_ERROR_AFTER = 3

const DUMMY_SCHEME = 'dummy://'

/** Call counters of `flaky*` models, keyed by provider name and model name (one counter per provider instance). */
const flakyCounters = new Map<string, number>()

/** Reset the `flaky*` counters (tests). */
export function resetDummyState (): void {
  flakyCounters.clear()
}

const translator = createOpenAICompatibleAdapter({ type: 'dummy', defaultApiBase: `${DUMMY_SCHEME}upstream/` })

/** Each dummy provider is its own fake upstream, addressed by name, so `flaky*` models count per provider. */
function addressed (built: ProviderRequest, ctx: ProviderContext, endpoint: string): ProviderRequest {
  built.url = `${DUMMY_SCHEME}${encodeURIComponent(ctx.provider.name)}/${endpoint}`
  return built
}

const buildEmbeddingRequest = translator.buildEmbeddingRequest as NonNullable<typeof translator.buildEmbeddingRequest>

export const dummyAdapter: ProviderAdapter<undefined> = {
  ...translator,
  buildRequest: (req, ctx) => addressed(translator.buildRequest(req, ctx), ctx, 'chat/completions'),
  buildEmbeddingRequest: (req, ctx) => addressed(buildEmbeddingRequest(req, ctx), ctx, 'embeddings')
}

interface DummyCall { provider: string; endpoint: string; model: string; body: Record<string, unknown> }

function callOf (spec: HttpRequestSpec): DummyCall {
  const address = spec.url.slice(DUMMY_SCHEME.length)
  const slash = address.indexOf('/')
  const body = JSON.parse(spec.body) as Record<string, unknown>
  return { provider: decodeURIComponent(address.slice(0, slash)), endpoint: address.slice(slash + 1), model: String(body.model), body }
}

function abortError (signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError')
}

/** Resolve after `ms`, or reject at once with the signal's reason when it aborts. */
function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortError(signal))
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(abortError(signal))
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

function tick (): Promise<void> {
  return new Promise(resolve => setImmediate(resolve))
}

/** The first text of the last user message of an OpenAI-shaped body. */
function lastUserText (messages: unknown): string {
  if (!Array.isArray(messages)) return ''
  for (let i = messages.length - 1; i >= 0; i--) {
    const m: unknown = messages[i]
    if (!isObj(m) || m.role !== 'user') continue
    if (typeof m.content === 'string') return m.content
    if (Array.isArray(m.content)) for (const p of m.content) if (isObj(p) && p.type === 'text' && typeof p.text === 'string') return p.text
    return ''
  }
  return ''
}

/** Errors a model name asks for before answering (shared by all endpoints). Counts `flaky*` calls. */
function failureFor (model: string, providerName: string): ProviderError | undefined {
  if (model.startsWith('flaky')) {
    const key = `${providerName}\0${model}`
    const n = (flakyCounters.get(key) ?? 0) + 1
    flakyCounters.set(key, n)
    if (n % 2 === 0) {
      const msg = `dummy: flaky model '${model}' failed on call number ${n}`
      return new ProviderError(msg, model.includes('rate_limit') ? 'rate_limit' : 'server')
    }
    return undefined
  }
  if (model.startsWith('error')) return new ProviderError(`dummy: error sending request to Dummy provider for model '${model}'.`, 'server')
  if (model === 'rate_limit') return new ProviderError(`dummy: 429 Too Many Requests: rate limit exceeded for model '${model}'`, 'rate_limit', { status: 429, retryAfterMs: 1000 })
  if (model === 'timeout') return new ProviderError(`dummy: model '${model}' timed out`, 'timeout')
  return undefined
}

interface Canned { output: OutputBlock[]; finishReason: FinishReason }

function cannedAnswer (call: DummyCall): Canned {
  const text = (t: string): Canned => ({ output: [{ type: 'text', text: t }], finishReason: 'stop' })
  switch (call.model) {
    case 'json': return text(DUMMY_JSON_RESPONSE_RAW)
    case 'tool':
      return { output: [{ type: 'tool_call', id: '0', name: 'get_temperature', arguments: DUMMY_TOOL_ARGUMENTS }], finishReason: 'tool_call' }
    case 'echo': return text(lastUserText(call.body.messages))
    case 'empty': return text('')
    case 'null': return { output: [], finishReason: 'stop' }
    case 'alternate': return text(ALTERNATE_INFER_RESPONSE_CONTENT)
    case 'reasoner': return { output: [{ type: 'thought', text: 'hmmm' }, { type: 'text', text: DUMMY_INFER_RESPONSE_CONTENT }], finishReason: 'stop' }
    default: return text(DUMMY_INFER_RESPONSE_CONTENT) // good, slow, flaky*, stream_error, …
  }
}

/** TensorZero's dummy usage: 10 input tokens, one output token per output block (per chunk when streaming). */
function usageOf (model: string, outputTokens: number): { prompt_tokens: number; completion_tokens: number } {
  if (model === 'input_tokens_zero') return { prompt_tokens: 0, completion_tokens: outputTokens }
  if (model === 'output_tokens_zero') return { prompt_tokens: 10, completion_tokens: 0 }
  return { prompt_tokens: 10, completion_tokens: outputTokens }
}

const WIRE_FINISH: Record<FinishReason, string> = {
  stop: 'stop', stop_sequence: 'stop', length: 'length', tool_call: 'tool_calls', content_filter: 'content_filter', unknown: 'unknown'
}

/** The canned answer as an OpenAI Chat Completions message. */
function wireMessage (c: Canned): Record<string, unknown> {
  const message: Record<string, unknown> = { role: 'assistant', content: null }
  const toolCalls: unknown[] = []
  for (const b of c.output) {
    if (b.type === 'thought') message.reasoning_content = b.text
    else if (b.type === 'text') message.content = b.text
    else if (b.type === 'tool_call') toolCalls.push({ id: b.id, type: 'function', function: { name: b.name, arguments: b.arguments } })
  }
  if (toolCalls.length > 0) message.tool_calls = toolCalls
  return message
}

/** Split into word chunks, each word keeping its leading space ("a b" → ["a", " b"]). */
export function wordChunks (text: string): string[] {
  const out: string[] = []
  let start = 0
  for (let i = 1; i < text.length; i++) {
    if (text.charCodeAt(i) === 32 && text.charCodeAt(i - 1) !== 32) {
      out.push(text.slice(start, i))
      start = i
    }
  }
  if (start < text.length) out.push(text.slice(start))
  return out
}

/** The stream's chunk deltas, before the final chunk carrying the finish reason and usage. */
function streamedDeltas (c: Canned): Array<Record<string, unknown>> {
  const deltas: Array<Record<string, unknown>> = []
  for (const b of c.output) {
    if (b.type === 'thought') deltas.push({ reasoning_content: b.text })
    else if (b.type === 'text') for (const w of wordChunks(b.text)) deltas.push({ content: w })
    else if (b.type === 'tool_call') {
      DUMMY_STREAMING_TOOL_RESPONSE.forEach((frag, i) => {
        const fn = i === 0 ? { name: b.name, arguments: frag } : { arguments: frag }
        deltas.push({ tool_calls: [i === 0 ? { index: 0, id: b.id, type: 'function', function: fn } : { index: 0, function: fn }] })
      })
    }
  }
  return deltas
}

async function * chunkEvents (call: DummyCall, c: Canned, signal: AbortSignal): AsyncGenerator<SseEvent> {
  const deltas = streamedDeltas(c)
  let n = 0
  for (const delta of deltas) {
    await tick()
    if (signal.aborted) throw abortError(signal)
    if (call.model === 'stream_error' && n === DUMMY_STREAM_ERROR_AFTER) {
      throw new ProviderError(`dummy: stream of model '${call.model}' failed after ${n} chunks`, 'server')
    }
    n++
    yield { data: JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta }] }) }
  }
  await tick()
  if (signal.aborted) throw abortError(signal)
  const finish = { index: 0, delta: {}, finish_reason: WIRE_FINISH[c.finishReason] }
  yield { data: JSON.stringify({ object: 'chat.completion.chunk', choices: [finish], usage: usageOf(call.model, deltas.length) }) }
  yield { data: '[DONE]' }
}

/** 8 deterministic floats in [-1, 1) from SHA-256 of the text. */
export function dummyEmbedding (text: string): number[] {
  const h = createHash('sha256').update(text).digest()
  const out: number[] = []
  for (let i = 0; i < 8; i++) out.push(h.readUInt32BE(i * 4) / 2 ** 31 - 1)
  return out
}

function embeddingsBody (call: DummyCall): string {
  const input = call.body.input
  const inputs = typeof input === 'string' ? [input] : input as string[]
  const dimensions = typeof call.body.dimensions === 'number' ? call.body.dimensions : undefined
  const data = inputs.map((text, index) => {
    const embedding = dummyEmbedding(text)
    return { object: 'embedding', index, embedding: dimensions !== undefined ? embedding.slice(0, dimensions) : embedding }
  })
  return JSON.stringify({ object: 'list', data, model: call.model, usage: { prompt_tokens: 10, completion_tokens: 0 } })
}

function completionBody (call: DummyCall): string {
  const c = cannedAnswer(call)
  const choice = { index: 0, message: wireMessage(c), finish_reason: WIRE_FINISH[c.finishReason] }
  return JSON.stringify({ object: 'chat.completion', model: call.model, choices: [choice], usage: usageOf(call.model, c.output.length) })
}

const OK_HEADERS = { 'content-type': 'application/json' }

/** The transport the `dummy` type is served by: answers in-process, with the delays and failures its models ask for. */
export const dummyTransport: ProviderTransport = {
  async request (spec, signal): Promise<HttpAnswer> {
    const call = callOf(spec)
    const embeddings = call.endpoint === 'embeddings'
    if (embeddings ? call.model.includes('slow') : call.model === 'slow') await sleep(DUMMY_SLOW_DELAY_MS, signal)
    else await tick()
    if (signal.aborted) throw abortError(signal)
    const failure = failureFor(call.model, call.provider)
    if (failure !== undefined) throw failure
    return { status: 200, headers: OK_HEADERS, body: embeddings ? embeddingsBody(call) : completionBody(call) }
  },
  async stream (spec, signal): Promise<HttpStreamAnswer> {
    const call = callOf(spec)
    if (call.model === 'slow') await sleep(DUMMY_SLOW_DELAY_MS, signal)
    const failure = failureFor(call.model, call.provider)
    if (failure !== undefined) throw failure
    return { status: 200, headers: OK_HEADERS, events: chunkEvents(call, cannedAnswer(call), signal) }
  }
}
