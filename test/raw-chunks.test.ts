// Raw provider chunks on streams (`tensorzero::include_raw_response` / `include_raw_response`, and the deprecated
// `include_original_response`), through the real `openai` client's streaming API and raw `fetch` on `/inference`:
// every provider event's data as the fake sent it, on the chunk it produced; the model calls made before the streamed
// one (best-of-N, mixture-of-N, DICL) in a `raw_response` chunk ahead of the deltas; nothing when the flag is off.
import t from 'tap'
import OpenAI from 'openai'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { scriptAnswer, startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startFakeAnthropic } from './helpers/fake-anthropic.ts'
import type { FakeAnthropic } from './helpers/fake-anthropic.ts'
import { startFakeGemini } from './helpers/fake-gemini.ts'
import type { FakeGemini } from './helpers/fake-gemini.ts'
import { fakeAnthropicModel, fakeGeminiModel, fakeJsonFunction, fakeModel } from './helpers/toml.ts'
import { UUID_TEXT } from '../src/core/ids.ts'
import { sseData } from './helpers/sse.ts'

scriptAnswer('raw-cand-a', { content: 'Answer A' })
scriptAnswer('raw-cand-b', { content: 'Answer B' })
scriptAnswer('raw-eval', { content: '{"thinking":"B is better","answer_choice":1}' })
scriptAnswer('raw-fuser', { content: 'Fused A and B' })

let fake: FakeOpenAI
let fa: FakeAnthropic
let fg: FakeGemini
let s: TestSidecar
let client: OpenAI

t.before(async () => {
  fake = await startFakeOpenAI()
  fa = await startFakeAnthropic()
  fg = await startFakeGemini()
  s = await startTestSidecar({
    toml: `${fakeModel(fake.url, 'gpt', [['upstream', 'ok']])}
${fakeModel(fake.url, 'gpt_fallback', [['down', 'error-500'], ['up', 'ok']])}
${fakeModel(fake.url, 'm_a', [['up', 'raw-cand-a']])}
${fakeModel(fake.url, 'm_b', [['up', 'raw-cand-b']])}
${fakeModel(fake.url, 'm_eval', [['up', 'raw-eval']])}
${fakeModel(fake.url, 'm_fuser', [['up', 'raw-fuser']])}
${fakeAnthropicModel(fa.url, 'claude')}
${fakeGeminiModel(fg.url, 'gemini')}

${fakeModel(fake.url, 'embedder', [['up', 'embed-model']], 'embedding_models')}

[functions.pick]
type = "chat"
[functions.pick.variants.a]
type = "chat_completion"
model = "m_a"
[functions.pick.variants.b]
type = "chat_completion"
model = "m_b"
[functions.pick.variants.bon]
type = "experimental_best_of_n_sampling"
candidates = ["a", "b"]
evaluator = { model = "m_eval" }
[functions.pick.variants.mon]
type = "experimental_mixture_of_n"
candidates = ["a", "b"]
fuser = { model = "m_fuser" }
[functions.pick.variants.dicl]
type = "experimental_dynamic_in_context_learning"
embedding_model = "embedder"
model = "gpt"
k = 2

${fakeJsonFunction('extract', 'plain', 'gpt', 'output.json')}
`,
    files: { 'output.json': JSON.stringify({ type: 'object' }) },
    env: { TEST_ANTHROPIC_KEY: 'sk-ant-fake', TEST_GEMINI_KEY: 'gm-fake' }
  })
  client = new OpenAI({ baseURL: s.baseURL, apiKey: 'x', maxRetries: 0 })
})

t.teardown(async () => { await s.close(); await fake.close(); await fa.close(); await fg.close() })

/** What each fake sends for a stream, asked directly (the fakes answer the same bytes every time). */
async function upstreamEvents (model: string): Promise<string[]> {
  const ask = async (url: string, headers: Record<string, string>, body: unknown): Promise<string[]> => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
    return sseData(await res.text())
  }
  const messages = [{ role: 'user', content: 'Say hello' }]
  switch (model) {
    case 'gpt': return (await ask(`${fake.url}/v1/chat/completions`, {}, { model: 'ok', messages, stream: true })).filter(d => d !== '[DONE]')
    // As TensorZero's Anthropic provider, `ping`, `content_block_stop` and `message_stop` (the end) make no chunk.
    case 'claude': return (await ask(`${fa.url}/v1/messages`, { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' }, { model: 'claude-ok', messages, stream: true }))
      .filter(d => !['ping', 'content_block_stop', 'message_stop'].includes(JSON.parse(d).type))
    default: return await ask(`${fg.url}/v1beta/models/gemini-ok:streamGenerateContent?alt=sse`, { 'x-goog-api-key': 'k' }, { contents: [] })
  }
}

type Chunk = Record<string, any>
async function streamChunks (body: Record<string, unknown>): Promise<Chunk[]> {
  const chunks: Chunk[] = []
  const params = { messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 50, stream: true, ...body }
  for await (const chunk of await client.chat.completions.create(params as unknown as OpenAI.ChatCompletionCreateParamsStreaming)) chunks.push(chunk as unknown as Chunk)
  return chunks
}

const textOf = (chunks: Chunk[]): string => chunks.map(c => c.choices[0]?.delta?.content ?? '').join('')

t.test('chat stream: each provider event\'s data rides as tensorzero_raw_chunk, equal to what the provider sent', async t => {
  for (const model of ['gpt', 'claude', 'gemini']) {
    const plain = await streamChunks({ model: `tensorzero::model_name::${model}` })
    const chunks = await streamChunks({ model: `tensorzero::model_name::${model}`, 'tensorzero::include_raw_response': true })
    const raw = chunks.filter(c => c.tensorzero_raw_chunk !== undefined).map(c => c.tensorzero_raw_chunk)
    t.same(raw, await upstreamEvents(model), `${model}: every event's data, in order, as sent`)
    t.equal(textOf(chunks), textOf(plain), `${model}: the content is the same as without the flag`)
    t.ok(textOf(chunks).startsWith('Hello from'), `${model}: the answer streamed`)
    const last = chunks[chunks.length - 1]
    t.equal(last.tensorzero_raw_chunk, undefined, `${model}: the closing chunk is the sidecar's own: no raw chunk`)
    t.equal(last.choices[0].finish_reason, 'stop')
    t.ok(chunks.every(c => c.tensorzero_original_chunk === undefined && c.tensorzero_raw_response === undefined), `${model}: only what was asked for`)
    t.ok(plain.every(c => !('tensorzero_raw_chunk' in c) && !('tensorzero_original_chunk' in c)), `${model}: the flag off sends no raw field`)
  }
})

t.test('chat stream: a provider event with no content (usage, finish) is still sent when its raw chunk was asked for', async t => {
  const chunks = await streamChunks({ model: 'tensorzero::model_name::gpt', 'tensorzero::include_raw_response': true })
  const usageEvent = chunks.find(c => typeof c.tensorzero_raw_chunk === 'string' && JSON.parse(c.tensorzero_raw_chunk).usage !== undefined)
  t.ok(usageEvent !== undefined, 'the provider\'s usage event has its own chunk')
  t.same(usageEvent?.choices[0].delta, {}, 'with an empty delta: usage and finish reason go in the closing chunk')
  t.equal(usageEvent?.choices[0].finish_reason, null)
  t.equal(usageEvent?.usage, null)
})

t.test('chat stream: the deprecated tensorzero::include_original_response sends tensorzero_original_chunk', async t => {
  const original = await streamChunks({ model: 'tensorzero::model_name::gpt', 'tensorzero::include_original_response': true })
  const sent = await upstreamEvents('gpt')
  t.same(original.filter(c => c.tensorzero_original_chunk !== undefined).map(c => c.tensorzero_original_chunk), sent)
  t.ok(original.every(c => c.tensorzero_raw_chunk === undefined), 'raw_chunk only with include_raw_response')
  const both = await streamChunks({ model: 'tensorzero::model_name::gpt', 'tensorzero::include_original_response': true, 'tensorzero::include_raw_response': true })
  const carrying = both.filter(c => c.tensorzero_raw_chunk !== undefined)
  t.equal(carrying.length, sent.length)
  t.ok(carrying.every(c => c.tensorzero_original_chunk === c.tensorzero_raw_chunk), 'both fields, the same text')

  const answer: any = await client.chat.completions.create({ model: 'tensorzero::model_name::gpt', messages: [{ role: 'user', content: 'Say hello' }], 'tensorzero::include_original_response': true } as any)
  t.equal(JSON.parse(answer.tensorzero_original_response).choices[0].message.content, 'Hello from ok', 'non-streaming: tensorzero_original_response')
})

// This once pinned raw usage in the closing chunk; as in TensorZero, it rides on the chunk of the event that carried it.
t.test('chat stream with raw usage and raw chunks together: each usage entry on the chunk of the event that carried it', async t => {
  const chunks = await streamChunks({ model: 'tensorzero::model_name::claude', 'tensorzero::include_raw_response': true, 'tensorzero::include_raw_usage': true })
  const last = chunks[chunks.length - 1]
  t.notOk('tensorzero_raw_usage' in last, 'not in the closing chunk')
  const carrying = chunks.filter(c => c.tensorzero_raw_usage !== undefined)
  t.same(carrying.map(c => JSON.parse(c.tensorzero_raw_chunk).type), ['message_start', 'message_delta'], 'the two Anthropic events that report usage')
  t.ok(carrying.every(c => c.tensorzero_raw_usage[0].provider_type === 'anthropic'))
  t.same(chunks.filter(c => c.tensorzero_raw_chunk !== undefined).map(c => c.tensorzero_raw_chunk), await upstreamEvents('claude'))

  // Gemini repeats its running usage in every event; as TensorZero, only the event with the finish reason reports it.
  const gemini = await streamChunks({ model: 'tensorzero::model_name::gemini', 'tensorzero::include_raw_response': true, 'tensorzero::include_raw_usage': true })
  const withUsage = gemini.filter(c => c.tensorzero_raw_usage !== undefined)
  t.equal(withUsage.length, 1)
  const event = JSON.parse(withUsage[0].tensorzero_raw_chunk)
  t.ok(typeof event.candidates[0].finishReason === 'string', 'the last event, with the finish reason')
  t.same(withUsage[0].tensorzero_raw_usage[0].data, event.usageMetadata, "Gemini's usageMetadata as it sent it")
  t.equal(withUsage[0].tensorzero_raw_usage[0].provider_type, 'google_ai_studio_gemini')
})

t.test('best-of-N stream with raw usage: the earlier calls\' usage in a chunk first, the chosen call\'s on its one chunk', async t => {
  const chunks = await streamChunks({ model: 'tensorzero::function_name::pick::variant_name::bon', 'tensorzero::include_raw_usage': true })
  t.equal(chunks[0].tensorzero_raw_usage?.length, 2, 'the candidate not chosen, and the evaluator')
  t.same(chunks[0].choices[0].delta, { role: 'assistant' })
  const answer = chunks.find(c => (c.choices[0]?.delta?.content ?? '') !== '')
  t.equal(answer?.choices[0].delta.content, 'Answer B')
  t.equal(answer?.tensorzero_raw_usage?.length, 1, 'the chosen candidate\'s usage rides on the answer chunk')
  const ids = new Set([...chunks[0].tensorzero_raw_usage, ...answer?.tensorzero_raw_usage].map((e: any) => e.model_inference_id))
  t.equal(ids.size, 3, 'three model calls')
  t.notOk('tensorzero_raw_usage' in chunks[chunks.length - 1])
})

t.test('chat stream after a provider fallback: the raw chunks are the provider that answered, its failed one\'s body first', async t => {
  const chunks = await streamChunks({ model: 'tensorzero::model_name::gpt_fallback', 'tensorzero::include_raw_response': true })
  t.same(chunks.filter(c => c.tensorzero_raw_chunk !== undefined).map(c => c.tensorzero_raw_chunk), await upstreamEvents('gpt'))
  t.match(chunks[0].tensorzero_raw_response, [{ provider_type: 'openai', data: /upstream exploded/ }], 'the failed provider (test/raw-failures.test.ts)')
})

t.test('best-of-N stream: the other candidate and the evaluator in a tensorzero_raw_response chunk first; no raw chunks (the answer is not streamed)', async t => {
  const chunks = await streamChunks({ model: 'tensorzero::function_name::pick::variant_name::bon', 'tensorzero::include_raw_response': true })
  const first = chunks[0]
  t.equal(first.tensorzero_raw_response?.length, 2, 'the candidate not chosen, and the evaluator')
  t.same(first.choices[0].delta, { role: 'assistant' })
  for (const entry of first.tensorzero_raw_response) {
    t.match(entry, { model_inference_id: UUID_TEXT, provider_type: 'openai', api_type: 'chat_completions', data: String })
  }
  const contents = first.tensorzero_raw_response.map((e: any) => JSON.parse(e.data).choices[0].message.content)
  t.same(contents.sort(), ['Answer A', '{"thinking":"B is better","answer_choice":1}'])
  t.equal(textOf(chunks), 'Answer B', 'the chosen answer')
  t.ok(chunks.every(c => c.tensorzero_raw_chunk === undefined))
  t.ok(chunks.slice(1).every(c => c.tensorzero_raw_response === undefined), 'only the first chunk carries them')
  const plain = await streamChunks({ model: 'tensorzero::function_name::pick::variant_name::bon' })
  t.ok(plain.every(c => !('tensorzero_raw_response' in c)), 'the flag off: no entries')
})

t.test('mixture-of-N stream: the candidates in a raw_response chunk first, then the fuser\'s own raw chunks', async t => {
  const chunks = await streamChunks({ model: 'tensorzero::function_name::pick::variant_name::mon', 'tensorzero::include_raw_response': true })
  const entries = chunks[0].tensorzero_raw_response
  t.equal(entries?.length, 2)
  t.same(entries.map((e: any) => JSON.parse(e.data).choices[0].message.content).sort(), ['Answer A', 'Answer B'])
  const raw = chunks.filter(c => c.tensorzero_raw_chunk !== undefined).map(c => JSON.parse(c.tensorzero_raw_chunk))
  t.ok(raw.length > 0 && raw.every(r => r.model === 'raw-fuser'), 'the fuser\'s stream events')
  t.equal(textOf(chunks), 'Fused A and B')
})

t.test('DICL stream: the embedding call in a raw_response chunk (api_type embeddings), the model\'s raw chunks after it', async t => {
  const chunks = await streamChunks({ model: 'tensorzero::function_name::pick::variant_name::dicl', 'tensorzero::include_raw_response': true })
  t.match(chunks[0].tensorzero_raw_response, [{ api_type: 'embeddings', provider_type: 'openai', model_inference_id: UUID_TEXT, data: String }])
  t.same(chunks.filter(c => c.tensorzero_raw_chunk !== undefined).map(c => c.tensorzero_raw_chunk), await upstreamEvents('gpt'))
})

async function nativeStream (body: Record<string, unknown>): Promise<Chunk[]> {
  const res = await fetch(`${s.url}/inference`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) })
  const text = await res.text()
  t.equal(res.status, 200, res.status === 200 ? 'the stream started' : text.slice(0, 300))
  const events = sseData(text)
  t.equal(events.at(-1), '[DONE]')
  return events.slice(0, -1).map(e => JSON.parse(e))
}

const input = { messages: [{ role: 'user', content: 'Say hello' }] }
const params = { chat_completion: { max_tokens: 50 } }
const nativeText = (chunks: Chunk[]): string => chunks.flatMap(c => c.content).map((b: any) => b.text).join('')

t.test('/inference stream: raw_chunk with include_raw_response, original_chunk with include_original_response', async t => {
  for (const model of ['gpt', 'claude', 'gemini']) {
    const sent = await upstreamEvents(model)
    const raw = await nativeStream({ model_name: model, input, params, include_raw_response: true })
    t.same(raw.filter(c => c.raw_chunk !== undefined).map(c => c.raw_chunk), sent, `${model}: raw_chunk is each event as sent`)
    t.ok(raw.every(c => c.original_chunk === undefined))
    t.equal(raw.at(-1)?.raw_chunk, undefined, `${model}: not on the closing chunk`)
    const original = await nativeStream({ model_name: model, input, params, include_original_response: true })
    t.same(original.filter(c => c.original_chunk !== undefined).map(c => c.original_chunk), sent, `${model}: original_chunk too`)
    t.ok(original.every(c => c.raw_chunk === undefined))
    const plain = await nativeStream({ model_name: model, input, params })
    t.equal(nativeText(raw), nativeText(plain), `${model}: the same content as without the flag`)
    t.ok(nativeText(raw).startsWith('Hello'), `${model}: the answer streamed`)
    t.ok(plain.every(c => !('raw_chunk' in c) && !('original_chunk' in c) && !('raw_response' in c)), `${model}: the flags off send none`)
  }
  const usageChunk = (await nativeStream({ model_name: 'gpt', input, include_raw_response: true }))
    .find(c => typeof c.raw_chunk === 'string' && JSON.parse(c.raw_chunk).usage !== undefined)
  t.same(usageChunk?.content, [], 'an event with no content is still sent, with empty content')
})

t.test('/inference stream: a JSON function\'s chunks carry raw_chunk beside `raw`', async t => {
  const chunks = await nativeStream({ function_name: 'extract', input, include_raw_response: true })
  t.same(chunks.filter(c => c.raw_chunk !== undefined).map(c => c.raw_chunk), await upstreamEvents('gpt'))
  t.ok(chunks.every(c => typeof c.raw === 'string'), 'every chunk has its `raw` text (empty when the event had none)')
})

t.test('/inference stream: best-of-N\'s earlier calls as raw_response in the first chunk', async t => {
  const chunks = await nativeStream({ function_name: 'pick', variant_name: 'bon', input, include_raw_response: true })
  t.equal(chunks[0].raw_response?.length, 2)
  t.same(chunks[0].content, [])
  t.ok(chunks.every(c => c.raw_chunk === undefined))
  t.ok(chunks.slice(1).every(c => c.raw_response === undefined))
})
