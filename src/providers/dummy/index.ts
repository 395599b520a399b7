// The `dummy` provider: in-process canned answers chosen by `model_name`, mirroring TensorZero's dummy provider
// (same texts, tool call and usage numbers) so configs and tests written for TensorZero behave the same here.
import { createHash } from 'node:crypto'
import type { EmbeddingRequest, Message, ModelRequest, OutputBlock, ProviderResponse, StreamDelta, Usage, FinishReason } from '../../core/types.ts'
import { type LocalProviderAdapter, type ProviderContext } from '../adapter.ts'
import { ProviderError } from '../../core/errors.ts'

export const DUMMY_INFER_RESPONSE_CONTENT = 'Megumin gleefully chanted her spell, unleashing a thunderous explosion that lit up the sky and left a massive crater in its wake.'
export const ALTERNATE_INFER_RESPONSE_CONTENT = 'Megumin chanted her spell, but instead of an explosion, a gentle rain began to fall.'
export const DUMMY_JSON_RESPONSE_RAW = '{"answer":"Hello"}'
export const DUMMY_TOOL_ARGUMENTS = '{"location":"Brooklyn","units":"celsius"}'
/** TensorZero streams the tool arguments in these fragments. */
export const DUMMY_STREAMING_TOOL_RESPONSE = ['{"location"', ':"Brooklyn"', ',"units"', ':"celsius', '"}']
export const DUMMY_SLOW_DELAY_MS = 5000
/** `stream_error` yields this many chunks, then fails. */
export const DUMMY_STREAM_ERROR_AFTER = 3

/** Call counters of `flaky*` models, keyed by provider name and model name (one counter per provider instance). */
const flakyCounters = new Map<string, number>()

/** Reset the `flaky*` counters (tests). */
export function resetDummyState (): void {
  flakyCounters.clear()
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

function lastUserText (messages: Message[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]
    if (m.role !== 'user') continue
    for (const b of m.content) if (b.type === 'text') return b.text
    return ''
  }
  return ''
}

/** Errors a model name asks for before answering (shared by infer and stream). Counts `flaky*` calls. */
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

interface Canned { output: OutputBlock[]; rawResponse: string; finishReason: FinishReason }

function cannedAnswer (model: string, req: ModelRequest): Canned {
  const text = (t: string): Canned => ({ output: [{ type: 'text', text: t }], rawResponse: t, finishReason: 'stop' })
  switch (model) {
    case 'json': return text(DUMMY_JSON_RESPONSE_RAW)
    case 'tool':
      return {
        output: [{ type: 'tool_call', id: '0', name: 'get_temperature', arguments: DUMMY_TOOL_ARGUMENTS }],
        rawResponse: DUMMY_TOOL_ARGUMENTS,
        finishReason: 'tool_call'
      }
    case 'echo': return text(lastUserText(req.messages))
    case 'empty': return text('')
    case 'null': return { output: [], rawResponse: '', finishReason: 'stop' }
    case 'alternate': return text(ALTERNATE_INFER_RESPONSE_CONTENT)
    case 'reasoner':
      return {
        output: [{ type: 'thought', text: 'hmmm' }, { type: 'text', text: DUMMY_INFER_RESPONSE_CONTENT }],
        rawResponse: DUMMY_INFER_RESPONSE_CONTENT,
        finishReason: 'stop'
      }
    default: return text(DUMMY_INFER_RESPONSE_CONTENT) // good, slow, flaky*, stream_error, …
  }
}

/** TensorZero's dummy usage: 10 input tokens, one output token per output block (per chunk when streaming). */
function usageFor (model: string, outputTokens: number): Usage {
  if (model === 'input_tokens_zero') return { inputTokens: 0, outputTokens }
  if (model === 'output_tokens_zero') return { inputTokens: 10, outputTokens: 0 }
  return { inputTokens: 10, outputTokens }
}

function rawRequestOf (req: ModelRequest, ctx: ProviderContext): string {
  return JSON.stringify({ model: ctx.provider.modelName, system: req.system, messages: req.messages, params: req.params, stream: req.stream })
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

async function infer (req: ModelRequest, ctx: ProviderContext, signal: AbortSignal): Promise<ProviderResponse & { rawRequest: string }> {
  const model = ctx.provider.modelName
  const rawRequest = rawRequestOf(req, ctx)
  if (model === 'slow') await sleep(DUMMY_SLOW_DELAY_MS, signal)
  else await tick()
  if (signal.aborted) throw abortError(signal)
  const failure = failureFor(model, ctx.provider.name)
  if (failure !== undefined) throw failure
  const c = cannedAnswer(model, req)
  return { output: c.output, usage: usageFor(model, c.output.length), finishReason: c.finishReason, rawResponse: c.rawResponse, rawRequest }
}

async function * streamDeltas (req: ModelRequest, ctx: ProviderContext, signal: AbortSignal): AsyncGenerator<StreamDelta> {
  const model = ctx.provider.modelName
  if (model === 'slow') await sleep(DUMMY_SLOW_DELAY_MS, signal)
  const failure = failureFor(model, ctx.provider.name)
  if (failure !== undefined) throw failure
  const c = cannedAnswer(model, req)
  const deltas: StreamDelta[] = []
  for (const b of c.output) {
    if (b.type === 'thought') deltas.push({ thought: b.text })
    else if (b.type === 'text') for (const w of wordChunks(b.text)) deltas.push({ text: w })
    else {
      DUMMY_STREAMING_TOOL_RESPONSE.forEach((frag, i) => {
        deltas.push({ toolCalls: [i === 0 ? { index: 0, id: b.id, name: b.name, arguments: frag } : { index: 0, arguments: frag }] })
      })
    }
  }
  let n = 0
  for (const d of deltas) {
    await tick()
    if (signal.aborted) throw abortError(signal)
    if (model === 'stream_error' && n === DUMMY_STREAM_ERROR_AFTER) {
      throw new ProviderError(`dummy: stream of model '${model}' failed after ${n} chunks`, 'server')
    }
    n++
    yield d
  }
  await tick()
  if (signal.aborted) throw abortError(signal)
  yield { finishReason: c.finishReason, usage: usageFor(model, deltas.length) }
}

/** 8 deterministic floats in [-1, 1) from SHA-256 of the text. */
export function dummyEmbedding (text: string): number[] {
  const h = createHash('sha256').update(text).digest()
  const out: number[] = []
  for (let i = 0; i < 8; i++) out.push(h.readUInt32BE(i * 4) / 2 ** 31 - 1)
  return out
}

async function embed (req: EmbeddingRequest, ctx: ProviderContext, signal: AbortSignal): Promise<{ embeddings: number[][]; usage: Usage; rawResponse: string; rawRequest: string }> {
  const model = ctx.provider.modelName
  const rawRequest = JSON.stringify({ model, input: req.input })
  if (model.includes('slow')) await sleep(DUMMY_SLOW_DELAY_MS, signal)
  else await tick()
  if (signal.aborted) throw abortError(signal)
  const failure = failureFor(model, ctx.provider.name)
  if (failure !== undefined) throw failure
  const inputs = typeof req.input === 'string' ? [req.input] : req.input
  let embeddings = inputs.map(dummyEmbedding)
  if (req.dimensions !== undefined) embeddings = embeddings.map(e => e.slice(0, req.dimensions))
  return { embeddings, usage: { inputTokens: 10, outputTokens: 0 }, rawResponse: JSON.stringify({ embeddings }), rawRequest }
}

export const dummyAdapter: LocalProviderAdapter = {
  kind: 'local',
  type: 'dummy',
  infer,
  stream: (req, ctx, signal) => ({ rawRequest: rawRequestOf(req, ctx), deltas: streamDeltas(req, ctx, signal) }),
  embed
}
